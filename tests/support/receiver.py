"""A loopback HTTP server for the tests' stand-ins of what the app, the chart and the operator
push to (an email provider, Pyroscope, Alertmanager's webhook receiver, an OTLP/HTTP trace
endpoint): each subclass says how it answers a POST and what it keeps; the server, its thread
and the lock its readers share live here once."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from orderflow.devservices import free_port


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # as sent (names in the client's case)
    body: bytes

    def header(self, name: str) -> str:
        """A header's value whatever its case ("" if absent)."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class RecordingServer:
    """Serves POSTs on a free loopback port; ``handle`` runs under ``lock``, which readers of
    what it recorded take too."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = Request(self.path, dict(self.headers.items()), body)
                with owner.lock:
                    reply = owner.handle(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args: object) -> None:
                pass

        # free_port(), not port 0: the kernel hands port 0 out of the ephemeral range again and
        # again, so a client still retrying against an earlier receiver (an Alertmanager
        # whose webhook receiver is gone, an exporter of a process not yet reaped) could post
        # into this one. free_port() never gives the same port twice in a process.
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
