"""The control plane of a local cluster, as host processes: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler.

etcd listens on loopback only (ports apart from the apiserver test ground's); the apiserver
listens on the host's address on the node network, which is where kubelets, pods (through the
``kubernetes`` Service) and the harness reach it. Controller-manager and scheduler run without
leader election (one of each) and serve health on their own ports on the same address.
"""

from __future__ import annotations

import ssl
import time
import urllib.request
from pathlib import Path

from e2e.local import procs
from e2e.local.spec import ClusterSpec, etcd_bin, k8s_bin
from moco.testing import ground, kubeflags


def _log(msg: str) -> None:
    print(f"[control-plane] {msg}", flush=True)


def start(spec: ClusterSpec, reg: procs.Registry) -> None:
    """Start the four components in order, each waited for; about 10 s when warm."""
    pki = spec.pki_dir
    logs = spec.log_dir
    t0 = time.monotonic()

    etcd_url = f"http://127.0.0.1:{spec.etcd_client_port}"
    log = logs / "etcd.log"
    rec = reg.start(
        "etcd",
        kubeflags.etcd(
            etcd_bin(),
            name="moco-local",
            data_dir=spec.etcd_dir,
            client_url=etcd_url,
            peer_port=spec.etcd_peer_port,
        ),
        log,
    )
    procs.wait_for("etcd", lambda: procs.http_ok(f"{etcd_url}/health"), 30, rec, log)
    _log(f"etcd ready (1/4) at {etcd_url}")

    log = logs / "kube-apiserver.log"
    rec = reg.start(
        "kube-apiserver",
        kubeflags.kube_apiserver(
            k8s_bin("kube-apiserver"),
            etcd_url=etcd_url,
            address=str(spec.host_ip),
            port=spec.apiserver_port,
            certs=kubeflags.ApiserverCerts(
                ca_crt=pki / "ca.crt",
                tls_crt=pki / "apiserver.crt",
                tls_key=pki / "apiserver.key",
                sa_pub=pki / "sa.pub",
                sa_key=pki / "sa.key",
                cert_dir=pki / "apiserver-generated",
            ),
            service_range=str(spec.service_net),
            authorization_mode="Node,RBAC",
            extra=[
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                "--kubelet-preferred-address-types=InternalIP",
                "--enable-admission-plugins=NodeRestriction",
                "--v=0",
            ],
        ),
        log,
    )
    ca, crt, key = pki / "ca.crt", pki / "admin.crt", pki / "admin.key"
    procs.wait_for(
        "kube-apiserver", lambda: procs.https_ok(f"{spec.apiserver_url}/readyz", ca, crt, key), 90, rec, log
    )
    _log(f"kube-apiserver ready (2/4) at {spec.apiserver_url}")

    common = [f"--bind-address={spec.host_ip}", "--leader-elect=false", "--profiling=false", "--v=0"]
    log = logs / "kube-controller-manager.log"
    kc = spec.component_kubeconfig("kube-controller-manager")
    rec = reg.start(
        "kube-controller-manager",
        kubeflags.kube_controller_manager(
            k8s_bin("kube-controller-manager"),
            kubeconfig=kc,
            address=str(spec.host_ip),
            port=spec.controller_manager_port,
            sa_key=pki / "sa.key",
            ca_crt=pki / "ca.crt",
            ca_key=pki / "ca.key",
            extra=[
                f"--service-cluster-ip-range={spec.service_net}",
                f"--cluster-cidr={spec.pod_net}",
                "--allocate-node-cidrs=false",
                "--profiling=false",
                "--v=0",
            ],
        ),
        log,
    )
    _wait_healthz("kube-controller-manager", spec, spec.controller_manager_port, rec, log)
    _log("kube-controller-manager ready (3/4)")

    log = logs / "kube-scheduler.log"
    kc = spec.component_kubeconfig("kube-scheduler")
    rec = reg.start(
        "kube-scheduler",
        [
            str(k8s_bin("kube-scheduler")),
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            f"--secure-port={spec.scheduler_port}",
            *common,
        ],
        log,
    )
    _wait_healthz("kube-scheduler", spec, spec.scheduler_port, rec, log)
    _log(f"kube-scheduler ready (4/4); control plane up in {time.monotonic() - t0:.1f}s")


def _wait_healthz(what: str, spec: ClusterSpec, port: int, rec: ground.Recorded, log: Path) -> None:
    def ok() -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # a self-signed serving certificate, on our own address
        with urllib.request.urlopen(f"https://{spec.host_ip}:{port}/healthz", context=ctx, timeout=3) as r:
            return bool(r.status == 200)

    procs.wait_for(what, ok, 60, rec, log)


def stop(reg: procs.Registry) -> None:
    """Stop in reverse order (the scheduler and controller-manager first, etcd last)."""
    for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
        reg.stop(name)
