"""Certificates made on the spot (a CA, a server certificate, a client certificate) and a
throwaway PostgreSQL that requires TLS with them."""

from __future__ import annotations

import datetime
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from k8s.testbed.pki import CertAndKey, make_ca, make_leaf, subject_name, write_cert, write_key

from orderflow.devservices import Postgres

CERT_USER = "certuser"  # logs in with a client certificate whose CN is its name
VALIDITY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A CA that signed nothing here: verification against it must fail."""


def _write(path: Path, cert_and_key: CertAndKey) -> None:
    write_cert(path, cert_and_key[0])
    write_key(path.with_suffix(".key"), cert_and_key[1])


def make_pki(directory: Path) -> Pki:
    """A CA; a server certificate valid for ``localhost`` only (not for 127.0.0.1, so
    verify-full against the address fails while verify-ca passes); a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca: CertAndKey = make_ca("orderflow test CA", VALIDITY)
    write_cert(directory / "ca.crt", ca[0])
    _write(
        directory / "server.crt",
        make_leaf(subject_name("localhost"), ca, dns=["localhost"], validity=VALIDITY),
    )
    _write(directory / "client.crt", make_leaf(subject_name(CERT_USER), ca, validity=VALIDITY))
    write_cert(directory / "other-ca.crt", make_ca("unrelated CA", VALIDITY)[0])
    return Pki(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        other_ca=directory / "other-ca.crt",
    )


def require_tls(server: Postgres, pki: Pki) -> None:
    """Turn TLS on and refuse every connection without it; ``CERT_USER`` authenticates with
    its client certificate. Restarts the server."""
    copies = {}
    for name, source in (
        ("server.crt", pki.server_cert),
        ("server.key", pki.server_key),
        ("root.crt", pki.ca),
    ):
        target = server.datadir / name
        shutil.copyfile(source, target)
        target.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(target, "postgres", "postgres")
        copies[name] = target
    with (server.datadir / "postgresql.conf").open("a") as conf:
        conf.write(
            f"ssl = on\nssl_cert_file = '{copies['server.crt']}'\n"
            f"ssl_key_file = '{copies['server.key']}'\nssl_ca_file = '{copies['root.crt']}'\n"
        )
    (server.datadir / "pg_hba.conf").write_text(
        "local all all trust\n"
        f"hostssl all {CERT_USER} 127.0.0.1/32 cert\n"
        f"hostssl all {CERT_USER} ::1/128 cert\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostssl all all ::1/128 scram-sha-256\n"
        "hostnossl all all 0.0.0.0/0 reject\n"
        "hostnossl all all ::/0 reject\n"
    )
    server.stop(remove=False)
    server.start()
