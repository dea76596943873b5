"""reservations: owned, expiring holds on stock

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 03:00:00

Expand only: a new table. Units an older build reserved through the former anonymous
``/reserve`` stay counted in ``products.reserved`` with no owner; they are not guessed at here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_reservations_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["products.id"], name=op.f("fk_reservations_item_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reservations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index(op.f("ix_reservations_expires_at"), "reservations", ["expires_at"])
    op.create_index(op.f("ix_reservations_user_id"), "reservations", ["user_id"])


def downgrade() -> None:
    # Held units go back before their rows disappear.
    op.execute(
        "UPDATE products p SET available = p.available + r.q, reserved = p.reserved - r.q"
        " FROM (SELECT item_id, sum(quantity) AS q FROM reservations GROUP BY item_id) r"
        " WHERE p.id = r.item_id"
    )
    op.drop_index(op.f("ix_reservations_user_id"), table_name="reservations")
    op.drop_index(op.f("ix_reservations_expires_at"), table_name="reservations")
    op.drop_table("reservations")
