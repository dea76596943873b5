"""A recording email provider for tests: counts raw deliveries and distinct idempotency keys,
and can be told to fail, to exercise retries and dead letters."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingEmailSink:
    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.keys: Counter[str] = Counter()
        self.fail_with: int | None = None
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with sink.lock:
                    status = sink.fail_with or 202
                    if status < 400:
                        sink.deliveries.append({**body, "headers": dict(self.headers)})
                        sink.keys[self.headers.get("idempotency-key", "")] += 1
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/email"

    def for_order(self, order_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [d for d in self.deliveries if order_id in d["subject"]]

    def start(self) -> RecordingEmailSink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
