"""Serve a peer the way ``orderflow api`` serves the product: one uvicorn process, the same
event loop and HTTP parser (uvloop + httptools when installed), no access log."""

from __future__ import annotations

import os
from typing import Any

import uvicorn


def serve(app: Any) -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
