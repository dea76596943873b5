"""A throwaway PKI for one test bed (a CA, server and client certificates, the
service-account signing pair), made in-process with ``cryptography``, plus the kubeconfig
files that use it. ``tests/support/tls.py`` builds its certificates with the same helpers."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

# The apiserver's in-cluster names: pods and a real kubelet reach it by these.
_APISERVER_DNS = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]
VALIDITY = datetime.timedelta(days=3650)
# Certificates start a little in the past: a clock a few seconds behind must not reject them.
BACKDATE = datetime.timedelta(minutes=5)

Key = ec.EllipticCurvePrivateKey
CertAndKey = tuple[x509.Certificate, Key]


def new_key() -> Key:
    # P-256 keys: generated in microseconds where RSA-2048 takes ~0.3 s each (a test session
    # makes ten); the apiserver, kubelet and service-account tokens (ES256) all accept them.
    return ec.generate_private_key(ec.SECP256R1())


def subject_name(common_name: str, orgs: Sequence[str] = ()) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs),
        ]
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: Key, validity: datetime.timedelta
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_ca(common_name: str, validity: datetime.timedelta = VALIDITY) -> CertAndKey:
    """A self-signed CA certificate and its key."""
    key = new_key()
    subject = subject_name(common_name)
    cert = (
        _builder(subject, subject, key, validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    subject: x509.Name,
    issuer: CertAndKey,
    *,
    usage: x509.ObjectIdentifier | None = None,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    validity: datetime.timedelta = VALIDITY,
) -> CertAndKey:
    """A certificate signed by ``issuer``, for ``usage`` (serverAuth/clientAuth; None: any)
    and the given subject alternative names."""
    key = new_key()
    ca_cert, ca_key = issuer
    builder = (
        _builder(subject, ca_cert.subject, key, validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    alt_names: list[x509.GeneralName] = [
        *(x509.DNSName(n) for n in dns),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips),
    ]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def write_key(path: Path, key: Key) -> None:
    """The private key as unencrypted PKCS#8 PEM, readable by its owner only."""
    path.touch(mode=0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


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
        self._ca: CertAndKey | None = None

    def _issuer(self) -> CertAndKey:
        """The CA, from memory or (for a Pki opened on an existing bed) from its files."""
        if self._ca is None:
            key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise TypeError(f"{self.ca_key} is not an EC key")
            self._ca = x509.load_pem_x509_certificate(self.ca_crt.read_bytes()), key
        return self._ca

    def create(self, ips: list[str], clients: list[ClientCert]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ca = make_ca("orderflow-testbed-ca")
        write_cert(self.ca_crt, self._ca[0])
        write_key(self.ca_key, self._ca[1])
        # Service-account token signing pair (apiserver signs, controller-manager signs too).
        sa = new_key()
        write_key(self.sa_key, sa)
        self.sa_pub.write_bytes(
            sa.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        self.server_cert("apiserver", "kube-apiserver", ips, _APISERVER_DNS)
        for client in clients:
            subject = subject_name(client.cn, client.orgs)
            self._leaf(client.name, subject, ExtendedKeyUsageOID.CLIENT_AUTH)

    def server_cert(self, name: str, cn: str, ips: list[str], dns: list[str]) -> None:
        self._leaf(name, subject_name(cn), ExtendedKeyUsageOID.SERVER_AUTH, ips=ips, dns=dns)

    def _leaf(
        self,
        name: str,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        *,
        ips: Sequence[str] = (),
        dns: Sequence[str] = (),
    ) -> None:
        cert, key = make_leaf(subject, self._issuer(), usage=usage, dns=dns, ips=ips)
        crt_path, key_path = self.cert(name)
        write_cert(crt_path, cert)
        write_key(key_path, key)

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
