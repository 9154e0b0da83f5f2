"""Certificates and kubeconfigs for the test grounds: one certificate authority, one document shape.

Both grounds that run a kube-apiserver (:mod:`moco.testing.envtest` on loopback and the e2e
suite's local cluster) authenticate everything with client certificates signed by a CA made at
start. :class:`CA` creates that authority and issues leaf certificates; :func:`kubeconfig_doc`
builds a kubeconfig around one client certificate, either embedding the PEM data or pointing at
files.

Invariants:
- every key made here is EC P-256 and every certificate is signed with SHA-256 by the CA's key;
- a leaf is never a CA and states its extended key usages (client, server or both) explicitly;
- the CA has a subject key identifier and every leaf the matching authority key identifier (and
  its own): strict verifiers (Python >= 3.13's default, ``VERIFY_X509_STRICT``) require them;
  for a client certificate, CN is the Kubernetes user and each O one of its groups;
- a leaf's validity starts ``backdate`` before issuing (the CA's, to tolerate clock skew) and lasts
  :data:`LEAF_VALIDITY` unless told otherwise;
- private keys and kubeconfigs written to disk are readable by their owner only (mode 0600);
  private keys are PKCS#8 PEM without encryption.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LEAF_VALIDITY = datetime.timedelta(days=30)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh EC P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (also when the file existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(0o600)


def write_signing_key(directory: Path, key: PrivateKey, stem: str = "sa") -> tuple[Path, Path]:
    """Write a signing key pair (service-account tokens): ``<stem>.key`` and ``<stem>.pub``."""
    private, public = directory / f"{stem}.key", directory / f"{stem}.pub"
    write_private(private, key_pem(key))
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@dataclass(frozen=True)
class Issued:
    """A leaf certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` and ``<stem>.key`` under ``directory``; returns their paths."""
        crt, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        crt.write_bytes(self.cert_pem)
        write_private(key, self.key_pem)
        return crt, key


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name(attrs)


@dataclass(frozen=True)
class CA:
    """A self-signed certificate authority that issues a ground's certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    backdate: datetime.timedelta

    @classmethod
    def create(cls, name: str, *, valid: datetime.timedelta, backdate: datetime.timedelta) -> CA:
        """A new CA named ``name``, valid from ``backdate`` ago for ``valid``."""
        key = new_key()
        subject = _name(name)
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - backdate)
            .not_valid_after(now + valid)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key, backdate)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, directory: Path) -> Path:
        """Write ``ca.crt`` and ``ca.key`` under ``directory``; returns the certificate's path."""
        crt = directory / "ca.crt"
        crt.write_bytes(self.cert_pem())
        write_private(directory / "ca.key", key_pem(self.key))
        return crt

    def issue(
        self,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        client: bool = False,
        server: bool = False,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        valid: datetime.timedelta = LEAF_VALIDITY,
    ) -> Issued:
        """A leaf certificate for ``client`` and/or ``server`` authentication, SANs from dns/ips."""
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        usages += [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        if not usages:
            raise ValueError(f"certificate {common_name!r}: neither client nor server usage asked")
        key = new_key()
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organizations))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - self.backdate)
            .not_valid_after(now + valid)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def _material(field: str, value: Path | bytes) -> dict[str, str]:
    """A kubeconfig field: a file reference for a path, ``<field>-data`` (base64) for PEM bytes."""
    if isinstance(value, Path):
        return {field: str(value)}
    return {f"{field}-data": base64.b64encode(value).decode()}


def kubeconfig_doc(
    *, cluster: str, server: str, user: str, ca: Path | bytes, cert: Path | bytes, key: Path | bytes
) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user (client certificate) and one current context.

    ``ca``, ``cert`` and ``key`` are either files (referenced) or PEM bytes (embedded).
    """
    endpoint = {"server": server, **_material("certificate-authority", ca)}
    credentials = {**_material("client-certificate", cert), **_material("client-key", key)}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": endpoint}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }


def write_kubeconfig(path: Path, doc: dict[str, Any]) -> None:
    """Write a kubeconfig document (owner-only), creating the parent directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())
