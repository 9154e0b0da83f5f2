"""A node of a local cluster: network namespace, containerd, kubelet, kube-proxy.

Set-up order matters for the network guard: the namespace, its links and routes and its guard
table exist before containerd starts, so no container ever runs without them. The node's
namespace is named after the node; its uplink is a veth whose host end sits on the host bridge.
Inside, the CNI bridge plugin (``cni0``, host-local IPAM over the node's pod range, no IP
masquerade) connects the pods.

Tear-down is the mirror image and works from what is on the machine, not from memory: it finds
containers through this node's containerd socket and cgroup root, CNI namespaces by their pod
addresses, mounts by their paths under the node's directories.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path

from e2e.local import netguard, procs
from e2e.local.nodeconf import (
    write_cni,
    write_containerd_config,
    write_kube_proxy_config,
    write_kubelet_config,
)
from e2e.local.spec import ClusterSpec, NodeSpec, k8s_bin

CGROUP_FS = Path("/sys/fs/cgroup")


def _log(node: NodeSpec, msg: str) -> None:
    print(f"[{node.name}] {msg}", flush=True)


def sh(*argv: str, check: bool = True, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        procs.in_netns(netns, argv), check=check, capture_output=True, text=True, timeout=60
    )


def ctr_argv(node: NodeSpec) -> list[str]:
    return ["ctr", "--address", str(node.containerd_socket), "--timeout", "30s"]


# ---------------------------------------------------------------- network
def netns_exists(name: str) -> bool:
    return Path(f"/run/netns/{name}").exists()


def link_exists(name: str, netns: str | None = None) -> bool:
    return sh("ip", "link", "show", name, check=False, netns=netns).returncode == 0


def setup_host_network(spec: ClusterSpec) -> None:
    """The host bridge of the node network, its address, and the host guard table."""
    br = spec.host_bridge
    if not link_exists(br):
        sh("ip", "link", "add", br, "type", "bridge")
    sh("sysctl", "-qw", f"net.ipv6.conf.{br}.disable_ipv6=1")
    sh("ip", "addr", "replace", f"{spec.host_ip}/{spec.node_net.prefixlen}", "dev", br)
    sh("ip", "link", "set", br, "up")
    netguard.install_host(spec)


def setup_network(spec: ClusterSpec, node: NodeSpec) -> None:
    """The node's namespace, veth uplink, routes, sysctls and guard table (idempotent)."""
    ns = node.netns
    if not netns_exists(ns):
        sh("ip", "netns", "add", ns)
    if not link_exists(node.veth_host):
        sh("ip", "link", "add", node.veth_host, "type", "veth", "peer", "name", node.veth_node, "netns", ns)
    sh("sysctl", "-qw", f"net.ipv6.conf.{node.veth_host}.disable_ipv6=1")
    sh("ip", "link", "set", node.veth_host, "master", spec.host_bridge, "up")
    for key in ("net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"):
        sh("sysctl", "-qw", key, netns=ns)
    sh("ip", "addr", "replace", f"{node.ip}/{spec.node_net.prefixlen}", "dev", node.veth_node, netns=ns)
    sh("ip", "link", "set", "lo", "up", netns=ns)
    sh("ip", "link", "set", node.veth_node, "up", netns=ns)
    # The guard goes in before forwarding is switched on and before any container exists.
    netguard.install_node(spec, node)
    for key in ("net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"):
        sh("sysctl", "-qw", key, netns=ns)
    for other in spec.node_specs:
        if other.index != node.index:
            sh("ip", "route", "replace", other.pod_cidr, "via", other.ip, netns=ns)
    # The host reaches pods of this node directly; services through node 0, where kube-proxy
    # translates them like for any pod.
    sh("ip", "route", "replace", node.pod_cidr, "via", node.ip)
    if node.index == 0:
        sh("ip", "route", "replace", str(spec.service_net), "via", node.ip)


def _cgroup_dirs(node: NodeSpec) -> list[Path]:
    return [
        c / node.cgroup_root.lstrip("/") for c in sorted(CGROUP_FS.iterdir()) if (c / "cgroup.procs").exists()
    ]


def make_cgroup_root(node: NodeSpec) -> None:
    """The node's cgroup root in every v1 hierarchy (cpuset needs its cpus/mems copied)."""
    for d in _cgroup_dirs(node):
        d.mkdir(exist_ok=True)
        if d.parent.name == "cpuset":
            for f in ("cpuset.cpus", "cpuset.mems"):
                (d / f).write_text((d.parent / f).read_text())


# ---------------------------------------------------------------- processes
def start_containerd(spec: ClusterSpec, node: NodeSpec, reg: procs.Registry, pause_ref: str) -> None:
    for d in (node.dir, node.containerd_root, node.containerd_state, node.local_path_dir):
        d.mkdir(parents=True, exist_ok=True)
    write_cni(node)
    cfg = write_containerd_config(node, pause_ref)
    log = spec.log_dir / f"{node.name}-containerd.log"
    rec = reg.start(f"{node.name}/containerd", ["containerd", "--config", str(cfg)], log, netns=node.netns)
    procs.wait_for(
        "containerd",
        lambda: (
            subprocess.run(
                [*ctr_argv(node), "version"], capture_output=True, timeout=10, check=False
            ).returncode
            == 0
        ),
        30,
        rec,
        log,
    )
    _log(node, f"containerd ready at {node.containerd_socket}")


def start_kubelet(spec: ClusterSpec, node: NodeSpec, reg: procs.Registry) -> None:
    make_cgroup_root(node)
    node.kubelet_root.mkdir(parents=True, exist_ok=True)
    cfg = write_kubelet_config(spec, node)
    log = spec.log_dir / f"{node.name}-kubelet.log"
    rec = reg.start(
        f"{node.name}/kubelet",
        [
            str(k8s_bin("kubelet")),
            f"--config={cfg}",
            f"--kubeconfig={spec.component_kubeconfig(f'kubelet-{node.name}')}",
            f"--root-dir={node.kubelet_root}",
            f"--hostname-override={node.name}",
            f"--node-ip={node.ip}",
            "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(node.labels.items())),
        ],
        log,
        netns=node.netns,
    )

    def healthy() -> bool:
        return (
            sh("curl", "-sf", "http://127.0.0.1:10248/healthz", check=False, netns=node.netns).returncode == 0
        )

    procs.wait_for("kubelet", healthy, 60, rec, log)
    _log(node, "kubelet healthy")


def start_kube_proxy(spec: ClusterSpec, node: NodeSpec, reg: procs.Registry) -> None:
    cfg = write_kube_proxy_config(spec, node)
    log = spec.log_dir / f"{node.name}-kube-proxy.log"
    rec = reg.start(
        f"{node.name}/kube-proxy", [str(k8s_bin("kube-proxy")), f"--config={cfg}"], log, netns=node.netns
    )

    def healthy() -> bool:
        return (
            sh("curl", "-s", "http://127.0.0.1:10256/healthz", check=False, netns=node.netns).returncode == 0
        )

    procs.wait_for("kube-proxy", healthy, 60, rec, log)
    _log(node, "kube-proxy serving")


# ---------------------------------------------------------------- tear-down
def kill_containers(node: NodeSpec) -> int:
    """Kill and delete every task and container of this node's containerd; returns how many."""
    if not node.containerd_socket.exists():
        return 0
    ctr = ctr_argv(node)
    out = subprocess.run(
        [*ctr, "-n", "k8s.io", "containers", "ls", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    ids = out.stdout.split()
    for cid in ids:
        subprocess.run(
            [*ctr, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", cid],
            capture_output=True,
            timeout=60,
            check=False,
        )
    for cid in ids:
        for _ in range(20):
            r = subprocess.run(
                [*ctr, "-n", "k8s.io", "tasks", "delete", cid],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if r.returncode == 0 or "not found" in r.stderr:
                break
            time.sleep(0.25)
        subprocess.run(
            [*ctr, "-n", "k8s.io", "containers", "delete", cid], capture_output=True, timeout=60, check=False
        )
    return len(ids)


def running_tasks(node: NodeSpec) -> int:
    if not node.containerd_socket.exists():
        return 0
    out = subprocess.run(
        [*ctr_argv(node), "-n", "k8s.io", "tasks", "ls"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    return sum(1 for line in out.splitlines()[1:] if "RUNNING" in line)


def cgroup_pids(node: NodeSpec) -> set[int]:
    """Every process in the node's cgroup root (its containers), in any hierarchy."""
    pids: set[int] = set()
    for d in _cgroup_dirs(node):
        # os.walk, not rglob: cgroups of processes just killed vanish during the walk (rglob
        # raised FileNotFoundError in the middle of a node loss); a vanished one has no process
        for parent, _dirs, files in os.walk(d):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in Path(parent, "cgroup.procs").read_text().split())
    return pids


def shim_pids(node: NodeSpec) -> set[int]:
    """containerd shims serving this node's containerd (their argv names its socket)."""
    sock = str(node.containerd_socket)
    found = set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and sock.encode() in argv:
            found.add(int(p.name))
    return found


def kill_pids(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def remove_cgroup_root(node: NodeSpec) -> None:
    for d in _cgroup_dirs(node):
        if not d.exists():
            continue
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            d.rmdir()


def pod_netns_mounts(spec: ClusterSpec) -> list[str]:
    """CNI namespaces (``/run/netns/cni-*``) whose interfaces hold an address of our pod range."""
    found: list[str] = []
    netns_dir = Path("/run/netns")
    if not netns_dir.exists():
        return found
    for ns in sorted(netns_dir.glob("cni-*")):
        r = sh("ip", "-n", ns.name, "-o", "-4", "addr", "show", check=False)
        addrs = [f.split("/")[0] for line in r.stdout.splitlines() for f in line.split()[3:4]]
        if any(ipaddress.IPv4Address(a) in spec.pod_net for a in addrs):
            found.append(ns.name)
    return found


def teardown_network(spec: ClusterSpec, node: NodeSpec) -> None:
    for ns in pod_netns_mounts(spec):
        sh("ip", "netns", "delete", ns, check=False)
    if netns_exists(node.netns):
        sh("ip", "netns", "delete", node.netns, check=False)
    if link_exists(node.veth_host):
        sh("ip", "link", "delete", node.veth_host, check=False)


def teardown_host_network(spec: ClusterSpec) -> None:
    if link_exists(spec.host_bridge):
        sh("ip", "link", "delete", spec.host_bridge, check=False)
    netguard.remove_host(spec)
