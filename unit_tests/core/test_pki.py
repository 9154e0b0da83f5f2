"""The grounds' certificate authority: what it issues (through moco.pki), how it writes it, the
kubeconfig shape."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from moco.testing import pki


@pytest.fixture(scope="module")
def ca() -> pki.CA:
    return pki.CA.create("test-ca", valid=datetime.timedelta(days=2), backdate=datetime.timedelta(minutes=7))


def test_the_ca_is_a_self_signed_p256_authority(ca: pki.CA) -> None:
    cert = ca.cert
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "test-ca"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert isinstance(ca.key.curve, ec.SECP256R1)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=2, minutes=7)
    cert.verify_directly_issued_by(cert)


def test_a_client_certificate_names_the_user_and_its_groups(ca: pki.CA) -> None:
    issued = ca.issue("alice", organizations=("g1", "g2"), client=True)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    cert.verify_directly_issued_by(ca.cert)
    assert cert.subject.rfc4514_string() == "O=g2,O=g1,CN=alice"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    short = ca.issue("bob", client=True, valid=datetime.timedelta(hours=1))
    life = x509.load_pem_x509_certificate(short.cert_pem).not_valid_after_utc - cert.not_valid_before_utc
    assert abs(life - datetime.timedelta(hours=1, minutes=7)) < datetime.timedelta(seconds=5)
    # LEAF_VALIDITY (30 days) is clamped to the 2-day CA: a leaf never outlives its CA
    assert cert.not_valid_after_utc == ca.cert.not_valid_after_utc


def test_a_serving_certificate_carries_its_names_and_addresses(ca: pki.CA) -> None:
    issued = ca.issue("srv", server=True, client=True, dns=("a", "b.c"), ips=("127.0.0.1", "10.0.0.1"))
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    usages = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["a", "b.c"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.1"),
    ]


def test_a_certificate_without_a_usage_is_refused(ca: pki.CA) -> None:
    with pytest.raises(ValueError, match="neither client nor server"):
        ca.issue("nobody")


def test_private_files_are_owner_only(ca: pki.CA, tmp_path: Path) -> None:
    (tmp_path / "ca.key").write_bytes(b"old")
    (tmp_path / "ca.key").chmod(0o644)
    crt = ca.write(tmp_path)
    leaf_crt, leaf_key = ca.issue("x", client=True).write(tmp_path, "leaf")
    sa_key, sa_pub = pki.write_signing_key(tmp_path, pki.new_key())
    assert crt == tmp_path / "ca.crt"
    assert crt.read_bytes() == ca.cert_pem()
    assert (leaf_crt.name, leaf_key.name, sa_key.name, sa_pub.name) == (
        "leaf.crt",
        "leaf.key",
        "sa.key",
        "sa.pub",
    )
    for private in (tmp_path / "ca.key", leaf_key, sa_key):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_a_kubeconfig_references_files_or_embeds_pem(tmp_path: Path) -> None:
    by_path = pki.kubeconfig_doc(
        cluster="c", server="https://h:1", user="u", ca=Path("/ca"), cert=Path("/crt"), key=Path("/key")
    )
    assert by_path["clusters"] == [
        {"name": "c", "cluster": {"server": "https://h:1", "certificate-authority": "/ca"}}
    ]
    assert by_path["users"] == [{"name": "u", "user": {"client-certificate": "/crt", "client-key": "/key"}}]
    assert by_path["contexts"] == [{"name": "c", "context": {"cluster": "c", "user": "u"}}]
    assert by_path["current-context"] == "c"

    embedded = pki.kubeconfig_doc(cluster="c", server="https://h:1", user="u", ca=b"A", cert=b"B", key=b"C")
    assert embedded["clusters"][0]["cluster"]["certificate-authority-data"] == base64.b64encode(b"A").decode()
    assert embedded["users"][0]["user"] == {
        "client-certificate-data": base64.b64encode(b"B").decode(),
        "client-key-data": base64.b64encode(b"C").decode(),
    }

    path = tmp_path / "sub" / "kubeconfig"
    pki.write_kubeconfig(path, embedded)
    assert yaml.safe_load(path.read_text()) == embedded
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_strict_verifier_accepts_the_chain(ca: pki.CA, tmp_path: Path) -> None:
    # Python >= 3.13 verifies with VERIFY_X509_STRICT by default (the backup image's python3 from
    # sid does): without key identifiers every in-cluster call to the local cluster's apiserver
    # failed with "Missing Authority Key Identifier" (seen in the backup Jobs of the e2e suite)
    leaf = ca.issue("server", server=True, dns=["server.test"])
    crt, key = leaf.write(tmp_path, "server")
    ca_file = ca.write(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(crt, key)
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_ctx.wrap_socket(raw, server_hostname="server.test") as tls,
        ):
            assert tls.version() is not None
            tls.sendall(b"x")
        t.join(10)
    cert = x509.load_pem_x509_certificate(leaf.cert_pem)
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_the_ground_issues_through_moco_pki(ca: pki.CA) -> None:
    """One implementation: the facts moco.pki reads of its own certificates hold for the ground's."""
    from moco.pki import Usage, certs

    facts = certs.read(ca.issue("svc", server=True, dns=["svc.test"]).cert_pem)
    assert facts.usages == frozenset({Usage.SERVER})
    assert facts.issuer_key_id == certs.read(ca.cert_pem()).key_id
    assert certs.key_matches(certs.KeyPair(ca.cert_pem(), ca.pair.key_pem))
