"""moco.testing.kubeflags: the flags both launchers (envtest, the local cluster) share."""

from __future__ import annotations

from pathlib import Path

from moco.testing import kubeflags

P = Path("/p")


def test_etcd_is_one_member_on_loopback() -> None:
    argv = kubeflags.etcd(
        Path("/bin/etcd"), name="n", data_dir=P / "d", client_url="http://127.0.0.1:1", peer_port=2
    )
    assert argv == [
        "/bin/etcd",
        "--name=n",
        "--data-dir=/p/d",
        "--listen-client-urls=http://127.0.0.1:1",
        "--advertise-client-urls=http://127.0.0.1:1",
        "--listen-peer-urls=http://127.0.0.1:2",
        "--initial-advertise-peer-urls=http://127.0.0.1:2",
        "--initial-cluster=n=http://127.0.0.1:2",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def test_apiserver_common_flags_then_the_launchers_own() -> None:
    certs = kubeflags.ApiserverCerts(
        P / "ca.crt", P / "a.crt", P / "a.key", P / "sa.pub", P / "sa.key", P / "gen"
    )
    argv = kubeflags.kube_apiserver(
        Path("/bin/kube-apiserver"),
        etcd_url="http://127.0.0.1:1",
        address="10.1.0.1",
        port=6443,
        certs=certs,
        service_range="10.0.0.0/24",
        authorization_mode="Node,RBAC",
        extra=["--v=0"],
    )
    assert argv[0] == "/bin/kube-apiserver"
    assert set(argv[1:]) == {
        "--etcd-servers=http://127.0.0.1:1",
        "--bind-address=10.1.0.1",
        "--advertise-address=10.1.0.1",
        "--secure-port=6443",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--client-ca-file=/p/ca.crt",
        "--tls-cert-file=/p/a.crt",
        "--tls-private-key-file=/p/a.key",
        "--service-account-key-file=/p/sa.pub",
        "--service-account-signing-key-file=/p/sa.key",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        "--cert-dir=/p/gen",
        "--profiling=false",
        "--v=0",
    }
    assert argv[-1] == "--v=0"  # a launcher's own flags come last, so they win over shared ones


def test_controller_manager() -> None:
    argv = kubeflags.kube_controller_manager(
        Path("/bin/kcm"),
        kubeconfig=P / "kc",
        address="127.0.0.1",
        port=1,
        sa_key=P / "sa.key",
        ca_crt=P / "ca.crt",
        ca_key=P / "ca.key",
        extra=["--x"],
    )
    assert "--leader-elect=false" in argv
    assert "--use-service-account-credentials=true" in argv
    assert "--cluster-signing-key-file=/p/ca.key" in argv
    assert argv.count("--kubeconfig=/p/kc") == 1
    assert argv[-1] == "--x"
