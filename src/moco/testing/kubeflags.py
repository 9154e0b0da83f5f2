"""The command lines of etcd, kube-apiserver and kube-controller-manager, for both launchers.

Two programs start these components: :mod:`moco.testing.envtest` (the apiserver tier, on
loopback) and ``e2e/local/control_plane.py`` (the local Kubernetes cluster). They differ in
addresses, certificates and a few flags of their own (the local cluster's apiserver talks to
kubelets; envtest's never compacts etcd); everything else is written once, here, so a flag fixed
for one is fixed for both. Each launcher passes its own flags as ``extra``.

Pure functions: paths and ports in, an argument vector out (the binary first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: The issuer of service-account tokens (what kubeadm sets; in-cluster clients expect it).
SERVICE_ACCOUNT_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"


def etcd(binary: Path, *, name: str, data_dir: Path, client_url: str, peer_port: int) -> list[str]:
    """A single-member etcd on loopback. ``--unsafe-no-fsync``: test data, speed over durability."""
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        str(binary),
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={name}={peer}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


@dataclass(frozen=True)
class ApiserverCerts:
    """The files kube-apiserver serves and verifies with."""

    ca_crt: Path
    tls_crt: Path
    tls_key: Path
    sa_pub: Path
    sa_key: Path
    #: where the apiserver writes what it generates itself
    cert_dir: Path


def kube_apiserver(
    binary: Path,
    *,
    etcd_url: str,
    address: str,
    port: int,
    certs: ApiserverCerts,
    service_range: str,
    authorization_mode: str = "RBAC",
    extra: Sequence[str] = (),
) -> list[str]:
    """kube-apiserver bound to ``address:port``, privileged Pods allowed, profiling off."""
    return [
        str(binary),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={address}",
        f"--advertise-address={address}",
        f"--secure-port={port}",
        f"--service-cluster-ip-range={service_range}",
        f"--client-ca-file={certs.ca_crt}",
        f"--tls-cert-file={certs.tls_crt}",
        f"--tls-private-key-file={certs.tls_key}",
        f"--service-account-key-file={certs.sa_pub}",
        f"--service-account-signing-key-file={certs.sa_key}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--authorization-mode={authorization_mode}",
        "--allow-privileged=true",
        f"--cert-dir={certs.cert_dir}",
        "--profiling=false",
        *extra,
    ]


def kube_controller_manager(
    binary: Path,
    *,
    kubeconfig: Path,
    address: str,
    port: int,
    sa_key: Path,
    ca_crt: Path,
    ca_key: Path,
    extra: Sequence[str] = (),
) -> list[str]:
    """kube-controller-manager without leader election (one instance), its own credentials for
    each controller, signing with the cluster CA."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={address}",
        f"--secure-port={port}",
        "--leader-elect=false",
        f"--service-account-private-key-file={sa_key}",
        f"--root-ca-file={ca_crt}",
        f"--cluster-signing-cert-file={ca_crt}",
        f"--cluster-signing-key-file={ca_key}",
        "--use-service-account-credentials=true",
        *extra,
    ]
