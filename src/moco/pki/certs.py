"""Making and reading certificates (pure: no I/O; time is a parameter).

:func:`new_ca` makes a self-signed certificate authority, :func:`issue` a leaf signed by one,
:func:`read` the facts the decisions of :mod:`moco.pki.decide` look at.

Invariants:
- every key is EC P-256; every signature SHA-256 by the CA's key;
- a leaf is never a CA (``BasicConstraints ca=False``), states its key usage and its extended
  key usages (server, client) explicitly, and names its issuer by Authority Key Identifier, so a
  leaf signed by a previous CA is told from one signed by the current CA without a signature check;
- a leaf never outlives its CA (its ``not_after`` is clamped to the CA's);
- validity starts ``backdate`` before ``now`` to tolerate clock skew between machines;
- private keys travel as unencrypted PKCS#8 PEM inside Secrets and are never in a ``repr``.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from moco.pki.errors import BadCertificate

#: Clock skew tolerated between the controller's machine and the agents'.
DEFAULT_BACKDATE: Final = datetime.timedelta(minutes=5)


class Usage(StrEnum):
    """What a leaf may be used for (its Extended Key Usage)."""

    SERVER = "server"
    CLIENT = "client"


_EKU: Final = {Usage.SERVER: ExtendedKeyUsageOID.SERVER_AUTH, Usage.CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH}


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)


@dataclass(frozen=True)
class CertFacts:
    """What the decisions need to know of a certificate (see :func:`read`)."""

    common_name: str
    dns_names: tuple[str, ...]
    usages: frozenset[Usage]
    is_ca: bool
    not_before: datetime.datetime
    not_after: datetime.datetime
    #: Subject Key Identifier (hex): names this certificate's key
    key_id: str
    #: Authority Key Identifier (hex): names the key that signed it (a CA's own for a root)
    issuer_key_id: str
    #: SHA-256 of the DER, hex: tells two certificates apart
    fingerprint: str

    def valid_at(self, now: datetime.datetime) -> bool:
        return self.not_before <= now < self.not_after


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ski(key: ec.EllipticCurvePublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)


def new_ca(
    common_name: str,
    *,
    now: datetime.datetime,
    validity: datetime.timedelta,
    backdate: datetime.timedelta = DEFAULT_BACKDATE,
) -> KeyPair:
    """A self-signed CA that may sign leaves only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = _ski(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _load_ca(ca: KeyPair) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = load(ca.cert_pem)
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise BadCertificate("the CA key is not an EC key")
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise BadCertificate("the CA key does not belong to the CA certificate")
    return cert, key


def issue(
    ca: KeyPair,
    common_name: str,
    usages: Sequence[Usage],
    *,
    now: datetime.datetime,
    validity: datetime.timedelta,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    organizations: Sequence[str] = (),
    backdate: datetime.timedelta = DEFAULT_BACKDATE,
) -> KeyPair:
    """A leaf for ``common_name`` (and ``dns_names``, ``ip_addresses``) signed by ``ca``; see the
    invariants. ``organizations`` become O attributes of the subject after its CN (Kubernetes
    reads a client certificate's CN as the user and each O as one of its groups)."""
    if not usages:
        raise ValueError("a leaf needs at least one usage")
    ca_cert, ca_key = _load_ca(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([_EKU[u] for u in sorted(set(usages))]), critical=False)
        .add_extension(_ski(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(ca_key.public_key())),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def load(pem: bytes) -> x509.Certificate:
    """The first certificate of ``pem``; raises :class:`BadCertificate`."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as e:
        raise BadCertificate(f"not a PEM certificate: {e}") from e


def load_all(pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (none for an empty one); raises :class:`BadCertificate`."""
    if not pem.strip():
        return []
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise BadCertificate(f"not a PEM bundle: {e}") from e


def facts_of(cert: x509.Certificate) -> CertFacts:
    def ext(cls: type[x509.ExtensionType]) -> x509.ExtensionType | None:
        try:
            return cert.extensions.get_extension_for_class(cls).value
        except x509.ExtensionNotFound:
            return None

    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    san = ext(x509.SubjectAlternativeName)
    eku = ext(x509.ExtendedKeyUsage)
    bc = ext(x509.BasicConstraints)
    ski = ext(x509.SubjectKeyIdentifier)
    aki = ext(x509.AuthorityKeyIdentifier)
    usages = frozenset(u for u, oid in _EKU.items() if isinstance(eku, x509.ExtendedKeyUsage) and oid in eku)
    return CertFacts(
        common_name=str(cns[0].value) if cns else "",
        dns_names=tuple(san.get_values_for_type(x509.DNSName))
        if isinstance(san, x509.SubjectAlternativeName)
        else (),
        usages=usages,
        is_ca=isinstance(bc, x509.BasicConstraints) and bc.ca,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_id=ski.digest.hex() if isinstance(ski, x509.SubjectKeyIdentifier) else "",
        issuer_key_id=(aki.key_identifier or b"").hex()
        if isinstance(aki, x509.AuthorityKeyIdentifier)
        else "",
        fingerprint=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def read(pem: bytes) -> CertFacts:
    """The facts of the first certificate of ``pem``; raises :class:`BadCertificate`."""
    return facts_of(load(pem))


def key_matches(pair: KeyPair) -> bool:
    """Whether the private key of ``pair`` belongs to its certificate (False when unreadable)."""
    try:
        cert = load(pair.cert_pem)
        key = serialization.load_pem_private_key(pair.key_pem, password=None)
    except (BadCertificate, ValueError, TypeError):
        return False
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return False
    pub = cert.public_key()
    return (
        isinstance(pub, ec.EllipticCurvePublicKey)
        and pub.public_numbers() == key.public_key().public_numbers()
    )


def signed_by(leaf_pem: bytes, ca_pem: bytes) -> bool:
    """Whether the leaf's signature verifies with the CA's key (a check for tests and audits)."""
    leaf, ca = load(leaf_pem), load(ca_pem)
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def split_bundle(pem: bytes) -> tuple[bytes, ...]:
    """The certificates of a PEM bundle, each as its own PEM; raises :class:`BadCertificate`."""
    return tuple(c.public_bytes(serialization.Encoding.PEM) for c in load_all(pem))


def bundle(certs: Sequence[bytes]) -> bytes:
    """PEM certificates joined into one trust bundle (each ends with a newline)."""
    return b"".join(c if c.endswith(b"\n") else c + b"\n" for c in certs)
