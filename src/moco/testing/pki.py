"""Certificates and kubeconfigs for the test grounds: one certificate authority, one document shape.

Both grounds that run a kube-apiserver (:mod:`moco.testing.envtest` on loopback and the e2e
suite's local cluster) authenticate everything with client certificates signed by a CA made at
start; the object-store servers of the tests serve certificates of such a CA too. :class:`CA`
holds that authority and issues leaf certificates with :mod:`moco.pki` (the certificates moco
itself makes: one implementation); :func:`kubeconfig_doc` builds a kubeconfig around one client
certificate, either embedding the PEM data or pointing at files.

Invariants (those of :mod:`moco.pki.certs`, plus):
- a leaf states its extended key usages (client, server or both) explicitly; for a client
  certificate, CN is the Kubernetes user and each O one of its groups;
- a leaf's validity starts ``backdate`` before issuing (the CA's, to tolerate clock skew) and lasts
  :data:`LEAF_VALIDITY` unless told otherwise, never beyond the CA's own end;
- private keys and kubeconfigs written to disk are readable by their owner only (mode 0600);
  private keys are PKCS#8 PEM without encryption.
"""

from __future__ import annotations

import base64
import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from moco.pki import KeyPair, Usage, certs

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


@dataclass(frozen=True)
class CA:
    """A self-signed certificate authority that issues a ground's certificates."""

    pair: KeyPair
    backdate: datetime.timedelta

    @classmethod
    def create(cls, name: str, *, valid: datetime.timedelta, backdate: datetime.timedelta) -> CA:
        """A new CA named ``name``, valid from ``backdate`` ago for ``valid``."""
        now = datetime.datetime.now(datetime.UTC)
        return cls(certs.new_ca(name, now=now, validity=valid, backdate=backdate), backdate)

    @property
    def cert(self) -> x509.Certificate:
        return certs.load(self.pair.cert_pem)

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.pair.key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # moco.pki makes EC keys only
        return key

    def cert_pem(self) -> bytes:
        return self.pair.cert_pem

    def write(self, directory: Path) -> Path:
        """Write ``ca.crt`` and ``ca.key`` under ``directory``; returns the certificate's path."""
        crt = directory / "ca.crt"
        crt.write_bytes(self.pair.cert_pem)
        write_private(directory / "ca.key", self.pair.key_pem)
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
        usages = [Usage.CLIENT] if client else []
        usages += [Usage.SERVER] if server else []
        if not usages:
            raise ValueError(f"certificate {common_name!r}: neither client nor server usage asked")
        pair = certs.issue(
            self.pair,
            common_name,
            usages,
            now=datetime.datetime.now(datetime.UTC),
            validity=valid,
            dns_names=dns,
            ip_addresses=ips,
            organizations=organizations,
            backdate=self.backdate,
        )
        return Issued(pair.cert_pem, pair.key_pem)


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
