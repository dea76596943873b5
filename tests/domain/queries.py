"""What the domain tests read back from the database after a call."""

from __future__ import annotations

import json

from tests.support.database import Database


async def stock(db: Database, item_id: str) -> tuple[int, int]:
    """(available, reserved) of one catalog item."""
    row = (await db.fetch_async("SELECT available, reserved FROM products WHERE id = $1", item_id))[
        0
    ]
    return row["available"], row["reserved"]


async def events(db: Database, actor: str, **payload: str) -> int:
    """How many outbox events (published or not) ask ``actor`` for exactly this payload."""
    count: int = await db.value_async(
        "SELECT count(*) FROM outbox WHERE actor = $1 AND payload = $2::jsonb",
        actor,
        json.dumps(payload),
    )
    return count


async def order_status(db: Database, order_id: object) -> str:
    status: str = await db.value_async(
        "SELECT status FROM orders WHERE id = $1::uuid", str(order_id)
    )
    return status
