"""``orderflow traffic``: simulated shoppers that drive every endpoint in a realistic mix.

Each shopper registers, logs in, browses articles and stock, writes and favorites an article,
reserves and releases stock, places orders and follows them, and finally logs out. Answers that
a correct server gives (2xx, and 409 for a sold-out item) are expected; anything else is counted
as unexpected and makes the command exit non-zero.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

EXPECTED_CONFLICT = 409


@dataclass
class Summary:
    started: float = field(default_factory=time.monotonic)
    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    orders: int = 0

    def record(self, label: str, response: httpx.Response, ok: tuple[int, ...] = ()) -> None:
        self.calls[label] += 1
        self.statuses[response.status_code] += 1
        if not (response.is_success or response.status_code in ok):
            self.unexpected.append(f"{label}: {response.status_code} {response.text[:200]}")

    def render(self) -> str:
        elapsed = time.monotonic() - self.started
        total = sum(self.calls.values())
        lines = [
            f"traffic: {total} requests in {elapsed:.1f}s ({total / max(elapsed, 1e-9):.1f}/s), "
            f"{self.orders} orders placed",
            "status codes: " + ", ".join(f"{k}={v}" for k, v in sorted(self.statuses.items())),
            "by endpoint: " + ", ".join(f"{k}={v}" for k, v in sorted(self.calls.items())),
        ]
        if self.unexpected:
            lines.append(f"UNEXPECTED ({len(self.unexpected)}):")
            lines.extend(f"  {line}" for line in self.unexpected[:20])
        return "\n".join(lines)


class Shopper:
    def __init__(self, http: httpx.AsyncClient, summary: Summary, sleep: float) -> None:
        self.http = http
        self.summary = summary
        self.sleep = sleep
        self.auth: dict[str, str] = {}
        self.rng = random.Random()  # noqa: S311 - traffic shape, not security

    async def call(
        self, label: str, method: str, url: str, ok: tuple[int, ...] = (), **kwargs: object
    ) -> httpx.Response:
        response = await self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
        self.summary.record(label, response, ok)
        if self.sleep:
            await asyncio.sleep(self.rng.uniform(0, 2 * self.sleep))
        return response

    async def sign_up(self) -> None:
        name = f"shopper-{uuid.uuid4().hex[:10]}"
        email, password = f"{name}@example.test", uuid.uuid4().hex
        body = {"email": email, "username": name, "password": password}
        await self.call("register", "POST", "/api/register", json=body)
        login = await self.call(
            "login", "POST", "/api/login", json={"email": email, "password": password}
        )
        self.auth = {"Authorization": f"Bearer {login.json().get('token', '')}"}
        await self.call("user", "GET", "/api/user", headers=self.auth)

    async def browse(self) -> list[dict[str, object]]:
        articles = await self.call("articles", "GET", "/api/articles", headers=self.auth)
        for article in articles.json().get("articles", [])[:3]:
            await self.call("article", "GET", f"/api/articles/{article['slug']}")
        stock = await self.call("stock", "GET", "/api/stock")
        # An error answer (a 503 during an outage) is counted, and the shopper carries on.
        items: list[dict[str, object]] = stock.json() if stock.is_success else []
        for item in self.rng.sample(items, min(2, len(items))):
            await self.call("stock_item", "GET", f"/api/stock/{item['item_id']}")
            await self.call("inventory", "GET", f"/api/inventory/{item['item_id']}")
        return items

    async def write(self) -> None:
        body = {"title": f"Notes {uuid.uuid4().hex[:6]}", "description": "d", "body": "b"}
        created = await self.call(
            "article_create", "POST", "/api/articles", json=body, headers=self.auth
        )
        slug = created.json().get("article", {}).get("slug")
        if not slug:
            return
        await self.call("favorite", "POST", f"/api/articles/{slug}/favorite", headers=self.auth)
        await self.call(
            "article_update",
            "PUT",
            f"/api/articles/{slug}",
            json={"body": "edited"},
            headers=self.auth,
        )
        if self.rng.random() < 0.3:
            await self.call(
                "unfavorite", "DELETE", f"/api/articles/{slug}/favorite", headers=self.auth
            )

    async def order(self, items: list[dict[str, object]]) -> None:
        if not items:
            return
        item = self.rng.choice(items)
        item_id = item["item_id"]
        reserved = await self.call(
            "reserve", "POST", f"/api/stock/{item_id}/reserve", ok=(EXPECTED_CONFLICT,),
            json={"quantity": 1}, headers=self.auth,
        )  # fmt: skip
        if reserved.is_success:
            await self.call(
                "release", "DELETE", f"/api/reservations/{reserved.json()['id']}",
                headers=self.auth,
            )  # fmt: skip
        lines = [
            {"item_id": i["item_id"], "quantity": self.rng.randint(1, 2), "price": i["price"]}
            for i in self.rng.sample(items, min(self.rng.randint(1, 3), len(items)))
        ]
        placed = await self.call(
            "order_create", "POST", "/api/orders", ok=(EXPECTED_CONFLICT,),
            json={"items": lines}, headers=self.auth,
        )  # fmt: skip
        if placed.is_success:
            self.summary.orders += 1
            await self.call("order", "GET", f"/api/orders/{placed.json()['id']}", headers=self.auth)
        await self.call("orders", "GET", "/api/orders", headers=self.auth)
        if self.rng.random() < 0.2:
            await self.call("orders_nplus1", "GET", "/api/orders-nplus1", headers=self.auth)


async def run_traffic(
    base_url: str, *, orders: int, concurrency: int, sleep: float, duration: float
) -> Summary:
    summary = Summary()
    deadline = time.monotonic() + duration if duration else None
    budget = asyncio.Semaphore(0)
    for _ in range(orders):
        budget.release()

    async def shop() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            shopper = Shopper(http, summary, sleep)
            await shopper.sign_up()
            while True:
                if deadline is not None:
                    if time.monotonic() >= deadline:
                        break
                elif budget.locked():
                    break
                else:
                    await budget.acquire()
                items = await shopper.browse()
                await shopper.write()
                await shopper.order(items)
            await shopper.call("logout", "POST", "/api/logout", headers=shopper.auth)

    await asyncio.gather(*(shop() for _ in range(max(1, concurrency))))
    return summary
