"""A throwaway PKI for one test bed, made with the ``openssl`` CLI (always on the host,
no Python dependency), plus the kubeconfig files that use it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# The apiserver's in-cluster names: pods and a real kubelet reach it by these.
_APISERVER_DNS = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]


def _genkey(path: str, cwd: Path) -> None:
    # P-256 keys: generated in milliseconds where RSA-2048 takes ~0.3 s each (a test session
    # makes ten); the apiserver, kubelet and service-account tokens (ES256) all accept them.
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path, cwd=cwd
    )


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class ClientCert:
    """A client identity: the apiserver maps CN to the user and O to the groups."""

    name: str
    cn: str
    orgs: tuple[str, ...] = ()


class Pki:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca_crt = directory / "ca.crt"
        self.ca_key = directory / "ca.key"
        self.sa_key = directory / "sa.key"
        self.sa_pub = directory / "sa.pub"

    def create(self, ips: list[str], clients: list[ClientCert]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        d = self.dir
        _genkey("ca.key", d)
        _openssl(
            "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "3650",
            "-subj", "/CN=orderflow-testbed-ca", "-out", "ca.crt",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            cwd=d,
        )  # fmt: skip
        # Service-account token signing pair (apiserver signs, controller-manager signs too).
        _genkey("sa.key", d)
        _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
        self.server_cert("apiserver", "kube-apiserver", ips, _APISERVER_DNS)
        for client in clients:
            subject = "/CN=" + client.cn + "".join(f"/O={o}" for o in client.orgs)
            self._leaf(client.name, subject, None, "clientAuth")

    def server_cert(self, name: str, cn: str, ips: list[str], dns: list[str]) -> None:
        san = ",".join([*(f"DNS:{n}" for n in dns), *(f"IP:{ip}" for ip in ips)])
        self._leaf(name, f"/CN={cn}", f"subjectAltName={san}", "serverAuth")

    def _leaf(self, name: str, subject: str, san: str | None, usage: str) -> None:
        d = self.dir
        _genkey(f"{name}.key", d)
        _openssl(
            "req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=d
        )
        ext = d / f"{name}.ext"
        lines = [
            "basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature",
            f"extendedKeyUsage={usage}",
        ]
        if san:
            lines.append(san)
        ext.write_text("\n".join(lines) + "\n")
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", ext.name,
            "-out", f"{name}.crt", cwd=d,
        )  # fmt: skip
        (d / f"{name}.csr").unlink()
        ext.unlink()

    def cert(self, name: str) -> tuple[Path, Path]:
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    def kubeconfig(
        self, path: Path, server: str, client: str, context: str = "orderflow-testbed"
    ) -> Path:
        """Write a kubeconfig with absolute file references (valid from any cwd)."""
        crt, key = self.cert(client)
        path.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
- name: {context}
  cluster:
    server: {server}
    certificate-authority: {self.ca_crt}
users:
- name: {client}
  user:
    client-certificate: {crt}
    client-key: {key}
contexts:
- name: {context}
  context:
    cluster: {context}
    user: {client}
current-context: {context}
"""
        )
        path.chmod(0o600)
        return path
