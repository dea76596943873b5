"""Where checks may connect: never to link-local or cloud metadata addresses (unless allowed).

Whoever can create a HealthPolicy chooses the address the operator connects to and reads the
outcome in the status: without a limit, a policy could make the operator fetch a cloud
metadata endpoint (instance credentials) or scan link-local services, with the status as the
oracle. Every check resolves its host first and refuses if any address it resolves to is in
``FORBIDDEN``; ``--allow-link-local`` (chart value ``checks.allowLinkLocal``) lifts it for the
rare dependency that really lives there.

Resolution and connection are two lookups, so a hostile DNS server could answer differently the
second time: the chart's NetworkPolicy for the operator excludes the same ranges from its
egress, as a second line that does not depend on DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import parse_qs, urlsplit

from orderflow_operator.checks.address import is_url, parse

FORBIDDEN = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.0.0/16",  # IPv4 link-local: AWS/GCP/Azure/OpenStack metadata at 169.254.169.254
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6 (Nitro)
    )
)


class ForbiddenAddress(PermissionError):
    """The address resolves into a range checks must not reach."""


class Egress:
    """Process-wide switch, set once from the command line."""

    allow_link_local = False


def forbidden(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in FORBIDDEN)


def hosts(address: str) -> list[str]:
    """Every host an address makes a client connect to (a DSN may name more than one)."""
    found = [] if address.startswith("unix") else parse(address).host.split(",")
    if is_url(address):
        query = parse_qs(urlsplit(address).query)
        for key in ("host", "hostaddr"):  # libpq/asyncpg let the query override the host
            for value in query.get(key, []):
                found += [h.strip() for h in value.split(",") if h.strip()]
    return found


async def vet(address: str) -> None:
    """Raise ForbiddenAddress if the address resolves into a forbidden range."""
    if Egress.allow_link_local:
        return
    loop = asyncio.get_running_loop()
    for host in hosts(address):
        if host.startswith("/"):  # a Unix socket path: not a network address
            continue
        if forbidden(host):
            raise ForbiddenAddress(f"{host} is a link-local/metadata address: checks refuse it")
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror:
            continue  # the check itself reports the name error
        for info in infos:
            ip = str(info[4][0])
            if forbidden(ip):
                raise ForbiddenAddress(
                    f"{host} resolves to {ip}, a link-local/metadata address: checks refuse it"
                )
