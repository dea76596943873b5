"""Articles: CRUD by slug, owner checks, filters, pagination and exact favorite counts."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.api_client import Account, assert_error, register


def _create(client: httpx.Client, account: Account, title: str = "Hello world") -> str:
    response = client.post(
        "/api/articles",
        json={"title": title, "description": "about", "body": "text"},
        headers=account.auth,
    )
    assert response.status_code == 201, response.text
    slug: str = response.json()["article"]["slug"]
    return slug


def test_crud_with_owner_checks(client: httpx.Client) -> None:
    owner, stranger = register(client), register(client)
    slug = _create(client, owner, "Brewing: a field guide!")
    assert slug.startswith("brewing-a-field-guide-")
    article = client.get(f"/api/articles/{slug}").json()["article"]
    assert article["author"] == owner.username and article["favoritesCount"] == 0

    assert_error(
        client.put(f"/api/articles/{slug}", json={"title": "mine"}, headers=stranger.auth),
        403,
        "author",
    )
    assert_error(client.delete(f"/api/articles/{slug}", headers=stranger.auth), 403)
    assert_error(client.put(f"/api/articles/{slug}", json={"title": "x"}), 401)

    updated = client.put(f"/api/articles/{slug}", json={"body": "new body"}, headers=owner.auth)
    assert updated.status_code == 200
    # The write invalidated the cached read.
    assert client.get(f"/api/articles/{slug}").json()["article"]["body"] == "new body"

    assert client.delete(f"/api/articles/{slug}", headers=owner.auth).status_code == 204
    assert_error(client.get(f"/api/articles/{slug}"), 404, "not found")


def test_validation_of_article_input(client: httpx.Client) -> None:
    account = register(client)
    assert_error(
        client.post(
            "/api/articles",
            json={"title": " ", "description": "d", "body": "b"},
            headers=account.auth,
        ),
        422,
        "title",
    )
    assert_error(
        client.post("/api/articles", json={"title": "t"}, headers=account.auth), 400, "description"
    )
    malformed = client.post(
        "/api/articles",
        content=b'{"title": "t",',
        headers={**account.auth, "content-type": "application/json"},
    )
    assert_error(malformed, 400)


def test_list_filters_pagination_and_favorited_flag(client: httpx.Client) -> None:
    author, fan = register(client), register(client)
    slugs = [_create(client, author, f"Post {i}") for i in range(3)]
    page = client.get("/api/articles", params={"author": author.username, "limit": 2}).json()
    assert page["articlesCount"] == 3 and len(page["articles"]) == 2
    assert page["articles"][0]["slug"] == slugs[2]  # newest first
    rest = client.get(
        "/api/articles", params={"author": author.username, "limit": 2, "offset": 2}
    ).json()
    assert [a["slug"] for a in rest["articles"]] == [slugs[0]]

    assert client.post(f"/api/articles/{slugs[1]}/favorite", headers=fan.auth).status_code == 200
    favorites = client.get(
        "/api/articles", params={"favorited": fan.username}, headers=fan.auth
    ).json()
    assert [a["slug"] for a in favorites["articles"]] == [slugs[1]]
    assert favorites["articles"][0]["favorited"] is True
    anonymous = client.get("/api/articles", params={"favorited": fan.username}).json()
    assert anonymous["articles"][0]["favorited"] is False
    assert_error(client.get("/api/articles", params={"limit": 0}), 400, "limit")


def test_favorites_count_is_exact_under_concurrency(client: httpx.Client, api_url: str) -> None:
    author = register(client)
    slug = _create(client, author)
    fans = [register(client) for _ in range(20)]

    async def storm() -> None:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            # Every fan favorites twice at once: 40 concurrent requests, 20 real favorites.
            await asyncio.gather(
                *(
                    http.post(f"/api/articles/{slug}/favorite", headers=fan.auth)
                    for fan in fans + fans
                )
            )

    asyncio.run(storm())
    assert client.get(f"/api/articles/{slug}").json()["article"]["favoritesCount"] == 20
