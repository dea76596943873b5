"""Small helpers over httpx for talking to the real API as a client would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Account:
    email: str
    username: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(client: httpx.Client, prefix: str = "user") -> Account:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    email, password = f"{name}@example.test", "correct horse battery"
    response = client.post(
        "/api/register", json={"email": email, "username": name, "password": password}
    )
    assert response.status_code == 201, response.text
    return Account(email, name, password, response.json()["token"])


def assert_error(response: httpx.Response, status: int, fragment: str = "") -> dict[str, Any]:
    """An error answer: the right status, our JSON shape, a trace id, and a useful message."""
    assert response.status_code == status, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "trace_id"}, body
    assert len(body["trace_id"]) == 32 and int(body["trace_id"], 16) >= 0
    assert fragment.lower() in body["error"].lower(), body
    return body
