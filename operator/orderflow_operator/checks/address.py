"""Dependency addresses: ``host:port`` or a URL (``scheme://[user[:pw]@]host[:port]/...``)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {
    "postgres": 5432,
    "postgresql": 5432,
    "redis": 6379,
    "rediss": 6379,
    "http": 80,
    "https": 443,
}


class AddressError(ValueError):
    """The address cannot be parsed (the CRD's CEL rules make this rare)."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    scheme: str | None = None  # None for the bare host:port form


def is_url(address: str) -> bool:
    return "://" in address


def parse(address: str, default_port: int | None = None) -> Endpoint:
    if is_url(address):
        parts = urlsplit(address)
        try:
            port = parts.port
        except ValueError as exc:
            raise AddressError(f"bad port in {address!r}") from exc
        port = port or DEFAULT_PORTS.get(parts.scheme) or default_port
        if not parts.hostname or port is None:
            raise AddressError(f"{address!r} needs a host and a port")
        return Endpoint(parts.hostname, port, parts.scheme)
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise AddressError(f"{address!r} is neither host:port nor a URL")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise AddressError(f"port {port} out of range 1-65535")
    return Endpoint(host.strip("[]"), port)
