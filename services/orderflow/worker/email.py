"""The email provider client: an HTTP POST with an idempotency key."""

from __future__ import annotations

import httpx

from orderflow.telemetry.clients import instrument_http_client


class HttpEmailSender:
    def __init__(self, url: str, timeout_seconds: float) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout_seconds)
        instrument_http_client(self._client)

    async def __call__(self, *, key: str, recipient: str, subject: str, body: str) -> None:
        response = await self._client.post(
            self._url,
            json={"to": recipient, "subject": subject, "body": body},
            headers={"Idempotency-Key": key},
        )
        response.raise_for_status()
