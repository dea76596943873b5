"""Registration, login, current user, logout, and every way authentication can fail."""

from __future__ import annotations

import time

import httpx
import jwt

from tests.support.api_client import assert_error, register


def test_register_returns_user_and_a_working_token(client: httpx.Client) -> None:
    account = register(client)
    me = client.get("/api/user", headers=account.auth)
    assert me.status_code == 200
    assert me.json()["user"]["username"] == account.username
    assert me.json()["user"]["email"] == account.email
    assert "password" not in me.text and "hash" not in me.text


def test_register_rejects_duplicates_and_bad_input(client: httpx.Client) -> None:
    account = register(client)
    again = client.post(
        "/api/register",
        json={"email": account.email, "username": "someone-else", "password": "long enough pw"},
    )
    assert_error(again, 409, "already taken")
    assert_error(
        client.post("/api/register", json={"email": "x@y.z", "username": "ab", "password": "p"}),
        422,
    )
    assert_error(
        client.post("/api/register", json={"email": "a@b.cd", "username": 3, "password": "x"}),
        400,
        "username",
    )
    unknown = client.post(
        "/api/register",
        json={"email": "a@b.cd", "username": "abc", "password": "12345678", "admin": True},
    )
    assert_error(unknown, 400, "admin")


def test_login_does_not_reveal_which_part_was_wrong(client: httpx.Client) -> None:
    account = register(client)
    ok = client.post("/api/login", json={"email": account.email, "password": account.password})
    assert ok.status_code == 200 and ok.json()["token"]
    wrong_password = client.post("/api/login", json={"email": account.email, "password": "nope"})
    unknown_user = client.post(
        "/api/login", json={"email": "nobody@example.test", "password": account.password}
    )
    first = assert_error(wrong_password, 401)
    second = assert_error(unknown_user, 401)
    assert first["error"] == second["error"] == "invalid email or password"


def test_authentication_failures(client: httpx.Client, base_env: dict[str, str]) -> None:
    account = register(client)
    user_id = client.get("/api/user", headers=account.auth).json()["user"]["id"]
    assert_error(client.get("/api/user"), 401, "authentication required")
    assert_error(client.get("/api/user", headers={"Authorization": "Basic abc"}), 401)
    forged = jwt.encode(
        {"sub": str(user_id), "jti": "00000000-0000-0000-0000-000000000001", "exp": 2**32},
        "not-the-secret-but-long-enough-for-hs256-keys",
        algorithm="HS256",
    )
    assert_error(client.get("/api/user", headers={"Authorization": f"Bearer {forged}"}), 401)
    expired = jwt.encode(
        {
            "sub": str(user_id),
            "jti": "00000000-0000-0000-0000-000000000002",
            "exp": int(time.time()) - 10,
        },
        base_env["JWT_SECRET"],
        algorithm="HS256",
    )
    assert_error(
        client.get("/api/user", headers={"Authorization": f"Bearer {expired}"}), 401, "expired"
    )
    none_alg = jwt.encode({"sub": str(user_id), "jti": "x", "exp": 2**32}, "", algorithm="none")
    assert_error(client.get("/api/user", headers={"Authorization": f"Bearer {none_alg}"}), 401)


def test_logout_revokes_the_token_at_once(client: httpx.Client) -> None:
    account = register(client)
    other = client.post("/api/login", json={"email": account.email, "password": account.password})
    other_auth = {"Authorization": f"Bearer {other.json()['token']}"}
    assert client.post("/api/logout", headers=account.auth).status_code == 200
    assert_error(client.get("/api/user", headers=account.auth), 401, "revoked")
    assert_error(client.post("/api/logout", headers=account.auth), 401, "revoked")
    # Only that token: a second session of the same user keeps working.
    assert client.get("/api/user", headers=other_auth).status_code == 200
