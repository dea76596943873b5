"""A recording email provider for tests: counts raw deliveries and distinct idempotency keys,
and can be told to fail, to exercise retries and dead letters."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.support.receiver import RecordingServer, Reply, Request


class RecordingEmailSink(RecordingServer):
    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[dict[str, Any]] = []
        self.keys: Counter[str] = Counter()
        self.fail_with: int | None = None
        self.rejected: list[Request] = []  # POSTs that are not an email: never a delivery

    def handle(self, request: Request) -> Reply:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not {"to", "subject", "body"} <= body.keys():
            # Not what the app sends ({to, subject, body}): kept apart, so a stray client
            # neither counts as a delivery nor breaks the tests reading them.
            self.rejected.append(request)
            return Reply(400, {"content-type": "application/json"}, b"{}")
        status = self.fail_with or 202
        if status < 400:
            self.deliveries.append({**body, "headers": request.headers})
            self.keys[request.header("idempotency-key")] += 1
        return Reply(status, {"content-type": "application/json"}, b"{}")

    @property
    def url(self) -> str:
        return f"{self.base_url}/email"

    def for_order(self, order_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [d for d in self.deliveries if order_id in d["subject"]]
