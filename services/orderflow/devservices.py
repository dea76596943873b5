"""Throwaway PostgreSQL and Redis servers started from installed binaries.

Used by ``orderflow dev`` (``make dev``) and by the test suite, so both run the real servers
the same way. Each server lives in its own temporary directory on a free loopback port and is
stopped (and its directory removed) by ``stop()``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


class ServiceError(RuntimeError):
    """A throwaway server could not be started."""


# Where free_port() looks: below the kernel's ephemeral range (32768-60999 by default), which
# is what bind(("", 0)) hands out and what every outgoing connection takes its local port from.
# A port from that range can be taken by any client socket between free_port() returning it and
# the server binding it (seen: the operator's metrics port, while the test bed's components
# held thousands of connections). Below 30000 also stays clear of Kubernetes' NodePort range.
FREE_PORTS = range(20000, 30000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port nothing is bound to, on any address, that this process has not handed out
    before."""
    for _ in range(200):
        port = random.choice(FREE_PORTS)  # noqa: S311 - not security-relevant
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))  # noqa: S104 - the widest bind a server may make
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise ServiceError(f"no free TCP port in {FREE_PORTS}")


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServiceError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _postgres_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.insert(0, str(Path(initdb).resolve().parent))
    for candidate in candidates:
        if (Path(candidate) / "postgres").exists():
            return Path(candidate)
    raise ServiceError("PostgreSQL server binaries not found: run `make system-deps`")


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root; drop to the packaged `postgres` user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServiceError("running as root but no `postgres` user exists") from exc
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class Postgres:
    """A PostgreSQL cluster with one database ``orderflow`` owned by user ``orderflow``."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="orderflow-pg-")))
    user: str = "orderflow"
    password: str = "orderflow"  # noqa: S105 - a throwaway local cluster
    database: str = "orderflow"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, stdin_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as the postgres user (initdb and the server refuse root)."""
        return subprocess.run(
            [*_as_postgres_user(), *args],
            check=True,
            capture_output=True,
            text=True,
            cwd="/",
            env={**os.environ, "PGPASSWORD": self.password},
            input=stdin_text,
            stdin=None if stdin_text is not None else subprocess.DEVNULL,
        )

    def start(self) -> Postgres:
        bindir = _postgres_bindir()
        if not self.datadir.exists():
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres", "postgres")
            pwfile = self.root / "pw"
            pwfile.write_text(self.password)
            if os.geteuid() == 0:
                shutil.chown(pwfile, "postgres", "postgres")
            self._run(
                str(bindir / "initdb"), "-D", str(self.datadir), "-U", self.user,
                "--pwfile", str(pwfile), "--auth=scram-sha-256", "-E", "UTF8", "--no-sync",
            )  # fmt: skip
            pwfile.unlink()
            with (self.datadir / "postgresql.conf").open("a") as conf:
                # A test and dev server: durability traded for speed, sockets kept private.
                conf.write(
                    f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
                )
            self._create_database(bindir)
        self._run(
            str(bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.root / "log"),
            "-w", "-t", "30", "start",
        )  # fmt: skip
        return self

    def _create_database(self, bindir: Path) -> None:
        """Create the database in single-user mode, before the server ever listens: a client
        waiting for the port (``migrate up --wait-seconds``) must never find the server up
        and the database missing, which it rightly treats as a configuration error."""
        result = self._run(
            str(bindir / "postgres"), "--single", "-D", str(self.datadir), "postgres",
            stdin_text=f'CREATE DATABASE "{self.database}" OWNER "{self.user}";\n',
        )  # fmt: skip
        # Single-user mode reports a failed statement on stderr and still exits 0.
        if "ERROR:" in result.stderr:
            raise ServiceError(f"creating database {self.database}: {result.stderr.strip()}")

    def stop(self, *, remove: bool = True) -> None:
        if self.datadir.exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(
                    str(_postgres_bindir() / "pg_ctl"), "-D", str(self.datadir), "-m", "fast",
                    "-w", "stop",
                )  # fmt: skip
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Redis:
    """A Redis server without persistence; ``stop(remove=False)`` then ``start()`` simulates an
    outage on the same port."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="orderflow-redis-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server not found: run `make system-deps`")
        args = {
            "--port": str(self.port),
            "--bind": "127.0.0.1",
            "--save": "",
            "--appendonly": "no",
            "--dir": str(self.root),
            "--protected-mode": "yes",
        }
        self.process = subprocess.Popen(
            [binary, *(part for pair in args.items() for part in pair)],
            stdout=(self.root / "log").open("ab"),
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C meant for `make dev` must not kill Redis before the
            # worker has drained; the owner stops it last.
            start_new_session=True,
        )
        wait_for_port(self.port)
        return self

    def stop(self, *, remove: bool = True) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)
