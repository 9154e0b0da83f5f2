"""Certificates and kubeconfigs of a local cluster (one CA, made once per cluster start).

Identities: ``admin`` (group ``system:masters``: the harness, the tests, the controller-manager,
the scheduler and kube-proxy — a test cluster, not a hardened one), ``system:node:<node>`` in
``system:nodes`` for each kubelet (so the Node authorizer and NodeRestriction apply as usual),
``kube-apiserver-kubelet-client`` for apiserver -> kubelet calls. Serving certificates: the
apiserver (host address, the ``kubernetes`` service IP and its DNS names, loopback) and each
kubelet (its node IP). Service-account tokens are signed with a separate RSA key.

The certificate machinery is :mod:`moco.testing.pki`; this module only says who gets what and
where the files lie (under :attr:`ClusterSpec.pki_dir`, kubeconfigs referencing those files).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from e2e.local.spec import ClusterSpec
from moco.testing import pki

_VALID = datetime.timedelta(days=30)
_BACKDATE = datetime.timedelta(minutes=5)
_CLUSTER = "moco-local"


def make_all(spec: ClusterSpec) -> None:
    """Create the CA, every certificate and every kubeconfig of ``spec`` (overwrites)."""
    d = spec.pki_dir
    d.mkdir(parents=True, exist_ok=True)
    ca = pki.CA.create("moco-local-ca", valid=_VALID, backdate=_BACKDATE)
    ca_crt = ca.write(d)
    svc_dns = (
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    )
    ca.issue(
        "kube-apiserver",
        server=True,
        dns=(*svc_dns, "localhost"),
        ips=(spec.host_ip, spec.kubernetes_service_ip, "127.0.0.1"),
        valid=_VALID,
    ).write(d, "apiserver")
    ca.issue(
        "kube-apiserver-kubelet-client", organizations=("system:masters",), client=True, valid=_VALID
    ).write(d, "apiserver-kubelet-client")
    admin_crt, admin_key = ca.issue(
        "moco-admin", organizations=("system:masters",), client=True, valid=_VALID
    ).write(d, "admin")
    pki.write_signing_key(d, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def kc(path: Path, crt: Path, key: Path, user: str) -> None:
        doc = pki.kubeconfig_doc(
            cluster=_CLUSTER, server=spec.apiserver_url, user=user, ca=ca_crt, cert=crt, key=key
        )
        pki.write_kubeconfig(path, doc)

    kc(spec.kubeconfig, admin_crt, admin_key, "moco-admin")
    for comp in ("kube-controller-manager", "kube-scheduler", "kube-proxy"):
        kc(spec.component_kubeconfig(comp), admin_crt, admin_key, "moco-admin")
    for node in spec.node_specs:
        crt, key = ca.issue(
            f"system:node:{node.name}", organizations=("system:nodes",), client=True, valid=_VALID
        ).write(d, f"kubelet-{node.name}")
        ca.issue(node.name, server=True, dns=(node.name,), ips=(node.ip,), valid=_VALID).write(
            d, f"kubelet-serving-{node.name}"
        )
        kc(spec.component_kubeconfig(f"kubelet-{node.name}"), crt, key, f"system:node:{node.name}")
