"""Certificates and kubeconfigs of a local cluster (one CA, made once per cluster start).

Identities: ``admin`` (group ``system:masters``: the harness, the tests, the controller-manager,
the scheduler and kube-proxy — a test cluster, not a hardened one), ``system:node:<node>`` in
``system:nodes`` for each kubelet (so the Node authorizer and NodeRestriction apply as usual),
``kube-apiserver-kubelet-client`` for apiserver -> kubelet calls. Serving certificates: the
apiserver (host address, the ``kubernetes`` service IP and its DNS names, loopback) and each
kubelet (its node IP). Service-account tokens are signed with a separate RSA key.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from e2e.local.spec import ClusterSpec

_VALID = datetime.timedelta(days=30)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


class CA:
    """A self-signed certificate authority that issues the cluster's certificates."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("moco-local-ca"))
            .issuer_name(_name("moco-local-ca"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = directory / "ca.crt"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        _write_key(directory / "ca.key", self.key)

    def issue(
        self,
        stem: str,
        cn: str,
        *,
        org: str | None = None,
        client: bool = False,
        server: bool = False,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
    ) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` / ``<stem>.key``; returns their paths."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usages = []
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, org))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        crt, kpath = self.dir / f"{stem}.crt", self.dir / f"{stem}.key"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(kpath, key)
        return crt, kpath


def kubeconfig(path: Path, *, server: str, ca: Path, cert: Path, key: Path, user: str) -> None:
    """Write a kubeconfig that authenticates with a client certificate."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "moco-local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "moco-local", "context": {"cluster": "moco-local", "user": user}}],
        "current-context": "moco-local",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)


def make_all(spec: ClusterSpec) -> None:
    """Create the CA, every certificate and every kubeconfig of ``spec`` (overwrites)."""
    d = spec.pki_dir
    d.mkdir(parents=True, exist_ok=True)
    ca = CA(d)
    svc_dns = (
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    )
    ca.issue(
        "apiserver",
        "kube-apiserver",
        server=True,
        dns=(*svc_dns, "localhost"),
        ips=(spec.host_ip, spec.kubernetes_service_ip, "127.0.0.1"),
    )
    ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", org="system:masters", client=True)
    admin_crt, admin_key = ca.issue("admin", "moco-admin", org="system:masters", client=True)
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(d / "sa.key", sa)
    (d / "sa.pub").write_bytes(
        sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )

    def kc(path: Path, crt: Path, key: Path, user: str) -> None:
        kubeconfig(path, server=spec.apiserver_url, ca=ca.cert_path, cert=crt, key=key, user=user)

    kc(spec.kubeconfig, admin_crt, admin_key, "moco-admin")
    for comp in ("kube-controller-manager", "kube-scheduler", "kube-proxy"):
        kc(spec.component_kubeconfig(comp), admin_crt, admin_key, "moco-admin")
    for node in spec.node_specs:
        crt, key = ca.issue(
            f"kubelet-{node.name}", f"system:node:{node.name}", org="system:nodes", client=True
        )
        ca.issue(f"kubelet-serving-{node.name}", node.name, server=True, dns=(node.name,), ips=(node.ip,))
        kc(spec.component_kubeconfig(f"kubelet-{node.name}"), crt, key, f"system:node:{node.name}")
