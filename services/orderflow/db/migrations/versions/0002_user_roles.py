"""user roles: customer (default) or staff

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 02:50:00

Expand only: existing rows become customers through the server default, and a build that does
not know the column keeps inserting users (the default fills it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("role", sa.String(length=20), server_default="customer", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_users_role_known"), "users", "role IN ('customer', 'staff')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_users_role_known"), "users", type_="check")
    op.drop_column("users", "role")
