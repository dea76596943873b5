"""The demo catalog: idempotent, so running it twice changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.dialects.postgresql import insert

from orderflow.db.models import Product

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

DEMO_PRODUCTS = [
    ("sku-001", "Espresso beans 1 kg", 2490),
    ("sku-002", "Pour-over kettle", 5900),
    ("sku-003", "Ceramic dripper", 2200),
    ("sku-004", "Paper filters (100)", 650),
    ("sku-005", "Burr grinder", 12900),
    ("sku-006", "Milk jug 600 ml", 1800),
    ("sku-007", "Tamper 58 mm", 3400),
    ("sku-008", "Cold brew jar", 2750),
    ("sku-009", "Travel mug", 1990),
    ("sku-010", "Digital scale", 3900),
    ("sku-011", "Descaler", 990),
    ("sku-012", "Cleaning tablets", 1290),
]
DEMO_STOCK = 1000


async def seed_catalog(session: AsyncSession) -> int:
    """Insert missing demo products; existing rows (and their stock) are left as they are."""
    result = await session.execute(
        insert(Product)
        .values(
            [
                {"id": i, "name": n, "price_cents": p, "available": DEMO_STOCK, "reserved": 0}
                for i, n, p in DEMO_PRODUCTS
            ]
        )
        .on_conflict_do_nothing()
        .returning(Product.id)
    )
    inserted = len(result.all())
    await session.commit()
    return inserted
