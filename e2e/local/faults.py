"""Machine failures injected from the host into the nodes of a local cluster, each undone cleanly.

A node of the local provider is a set of host processes (containerd, kubelet, kube-proxy, the
containerd shims and every container process under the node's cgroup root) and a network
namespace joined to the host bridge by one veth pair. That makes the failures of a real machine
reproducible from the host, without touching anything inside the Pods:

- :func:`kill_container_process` (mysqld crash): SIGKILL of one process of one container, found
  through the node's cgroup tree (kubelet's cgroupfs driver puts each container in a cgroup named
  after its containerd ID) and ``/proc/<pid>/comm``: the process dies as in a crash, not through
  a signal its own PID namespace could ignore or handle (``kill 1`` inside is a graceful stop).
- :func:`lose_node` / :func:`restore_node` (power cut): the node's uplink goes down first (no
  packet of the dying node is seen after the cut), then kubelet, containerd, kube-proxy, the
  shims and the containers get SIGKILL in one sweep (repeated until nothing is left, so nothing
  forked meanwhile survives). Restoring brings the link up and starts containerd, kubelet and
  kube-proxy again, as a machine that boots: kubelet restarts the Pods it finds.
- :func:`partition` / :func:`heal` (network partition): an nftables table in the node's
  namespace drops every packet in and out through its uplink, so the node is cut from the other
  nodes and the control plane both ways, while its own Pods still reach each other.
- :func:`freeze` / :func:`thaw` (a machine that hangs): SIGSTOP of every process of the node,
  repeated until no unstopped process is left; SIGCONT of the same set and of whatever is there.

Safety (GROUND.md's network rule): a fault only ever acts inside a node of the given cluster:
:func:`require_node` refuses a node whose network namespace the harness did not create (not one
of the spec's node namespaces, or not present under ``/run/netns``), and the partition table
lives in that namespace only. Processes are chosen by the node's cgroup root, its containerd
socket and the PIDs the cluster recorded: nothing else on the machine is signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from e2e.local import images, node, procs
from e2e.local.spec import ClusterSpec, NodeSpec

#: nftables table of a partition, inside the node's namespace (beside the guard table).
PARTITION_TABLE = "moco_partition"
#: node components recorded in the cluster's state file, per node.
NODE_COMPONENTS = ("kubelet", "containerd", "kube-proxy")
PROC = Path("/proc")


class FaultError(RuntimeError):
    """A fault could not be injected or undone; the message says what is in the way."""


# ------------------------------------------------------------------ guard
def require_node(spec: ClusterSpec, name: str, netns_dir: Path = Path("/run/netns")) -> NodeSpec:
    """The spec of node ``name`` of this cluster, whose namespace exists; anything else is refused."""
    for n in spec.node_specs:
        if n.name == name:
            if not (netns_dir / n.netns).exists():
                raise FaultError(f"{name}: its network namespace {n.netns} does not exist")
            return n
    raise FaultError(f"{name} is not a node of cluster {spec.name} ({[n.name for n in spec.node_specs]})")


# ------------------------------------------------------------------ processes of a container
def container_cgroup(node_cgroup: Path, container_id: str) -> Path | None:
    """The cgroup directory of a container under a node's cgroup root (one hierarchy), or None.

    kubelet's cgroupfs driver names it after the containerd container ID, below the Pod's cgroup
    (``<root>/kubepods[/<qos>]/pod<uid>/<id>``).
    """
    if not node_cgroup.is_dir():
        return None
    for d in node_cgroup.rglob(container_id):
        if d.is_dir() and (d / "cgroup.procs").exists():
            return d
    return None


def cgroup_procs(cgroup: Path) -> list[int]:
    """PIDs in a cgroup and its children."""
    pids: list[int] = []
    for f in sorted(cgroup.rglob("cgroup.procs")):
        with contextlib.suppress(OSError):
            pids.extend(int(p) for p in f.read_text().split())
    return sorted(set(pids))


def process_named(pids: Iterable[int], comm: str, proc: Path = PROC) -> int | None:
    """The lowest PID among ``pids`` whose ``comm`` is ``comm`` (a container's main process is
    its oldest), or None."""
    found = []
    for pid in pids:
        try:
            if (proc / str(pid) / "comm").read_text().strip() == comm:
                found.append(pid)
        except OSError:
            continue
    return min(found) if found else None


def container_id_of(pod: dict[str, Any], container: str) -> str:
    """The containerd ID of a running container of a Pod (from its status)."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container and cs.get("containerID") and "running" in (cs.get("state") or {}):
            return str(cs["containerID"]).split("://", 1)[-1]
    raise FaultError(f"container {container} of the Pod is not running")


def node_cgroup_dirs(n: NodeSpec) -> list[Path]:
    """The node's cgroup root in each v1 hierarchy that has it."""
    return [d for d in node._cgroup_dirs(n) if d.is_dir()]


def container_process(spec: ClusterSpec, pod: dict[str, Any], container: str, comm: str) -> int:
    """PID (on the host) of the process ``comm`` of ``container`` of ``pod``."""
    node_name = str((pod.get("spec") or {}).get("nodeName", ""))
    n = require_node(spec, node_name)
    cid = container_id_of(pod, container)
    for root in node_cgroup_dirs(n):
        cg = container_cgroup(root, cid)
        if cg is not None:
            pid = process_named(cgroup_procs(cg), comm)
            if pid is not None:
                return pid
    raise FaultError(f"no process {comm} in the cgroup of container {cid[:12]} on {node_name}")


def kill_container_process(spec: ClusterSpec, pod: dict[str, Any], container: str, comm: str) -> int:
    """SIGKILL the process ``comm`` of a Pod's container from the host; returns its PID."""
    pid = container_process(spec, pod, container, comm)
    os.kill(pid, signal.SIGKILL)
    return pid


# ------------------------------------------------------------------ processes of a node
def node_pids(spec: ClusterSpec, n: NodeSpec) -> set[int]:
    """Every live process of the node: its recorded components, its shims, its containers."""
    recs = procs.Registry(spec.state_file).load()
    pids = {r.pid for k, r in recs.items() if k.startswith(f"{n.name}/") and r.alive()}
    return pids | node.shim_pids(n) | node.cgroup_pids(n)


def _signal_all(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _is_stopped(pid: int) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return True  # gone: nothing left to stop
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t", "Z", "X")


def freeze(spec: ClusterSpec, name: str) -> set[int]:
    """SIGSTOP every process of node ``name`` (until none is left running); returns them."""
    n = require_node(spec, name)
    stopped: set[int] = set()
    for _ in range(20):
        todo = {p for p in node_pids(spec, n) if p not in stopped or not _is_stopped(p)}
        if not todo:
            return stopped
        _signal_all(todo, signal.SIGSTOP)
        stopped |= todo
    raise FaultError(f"{name}: processes kept appearing while freezing it")


def thaw(spec: ClusterSpec, name: str, frozen: Iterable[int] = ()) -> None:
    """SIGCONT the processes :func:`freeze` stopped and every process of the node."""
    n = require_node(spec, name)
    _signal_all(set(frozen) | node_pids(spec, n), signal.SIGCONT)


def lose_node(spec: ClusterSpec, name: str) -> int:
    """Power cut of node ``name``: uplink down, then SIGKILL of all its processes; returns how many."""
    n = require_node(spec, name)
    node.sh("ip", "link", "set", n.veth_host, "down")
    killed: set[int] = set()
    for _ in range(20):
        left = node_pids(spec, n) - killed
        if not left:
            break
        _signal_all(left, signal.SIGKILL)
        killed |= left
    # The records stay (their PIDs are dead): restore_node starts the components again.
    return len(killed)


def restore_node(spec: ClusterSpec, name: str, *, wipe_volumes: bool = False) -> None:
    """Boot node ``name`` again after :func:`lose_node`: uplink up, containerd, kubelet,
    kube-proxy. ``wipe_volumes``: the machine comes back empty (a replacement), its local-path
    volumes and kubelet state gone."""
    n = require_node(spec, name)
    deadline = time.monotonic() + 30
    while node_pids(spec, n) - _recorded(spec, n, alive_only=True):
        if time.monotonic() > deadline:
            raise FaultError(f"{name}: processes of the lost node are still there")
        time.sleep(0.2)
    if wipe_volumes:
        for mp in _mounts_under(n.dir):
            subprocess.run(["umount", "-l", mp], capture_output=True, timeout=30, check=False)
        for d in (n.local_path_dir, n.kubelet_root):
            subprocess.run(
                ["rm", "-rf", "--one-file-system", str(d)], capture_output=True, timeout=120, check=False
            )
        n.local_path_dir.mkdir(parents=True, exist_ok=True)
    node.sh("ip", "link", "set", n.veth_host, "up")
    reg = procs.Registry(spec.state_file)
    node.start_containerd(spec, n, reg, images.pause_image().ref)
    node.start_kubelet(spec, n, reg)
    node.start_kube_proxy(spec, n, reg)


def _recorded(spec: ClusterSpec, n: NodeSpec, *, alive_only: bool) -> set[int]:
    recs = procs.Registry(spec.state_file).load()
    return {r.pid for k, r in recs.items() if k.startswith(f"{n.name}/") and (r.alive() or not alive_only)}


def _mounts_under(root: Path) -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].replace("\\040", " ")
        if mp.startswith(str(root) + "/"):
            out.append(mp)
    return sorted(out, key=len, reverse=True)


# ------------------------------------------------------------------ network partition
def partition_ruleset(n: NodeSpec) -> str:
    """The nft script that cuts a node off (pure): nothing in or out through its uplink, both
    ways, for every packet, whatever connection it belongs to. The node's own Pods and processes
    still reach each other (their traffic never crosses the uplink)."""
    up = n.veth_node
    return f"""
table inet {PARTITION_TABLE} {{
    chain prerouting {{
        type filter hook prerouting priority -400; policy accept;
        iifname "{up}" counter drop comment "moco-partition in"
    }}
    chain postrouting {{
        type filter hook postrouting priority -400; policy accept;
        oifname "{up}" counter drop comment "moco-partition out"
    }}
}}
"""


def _nft(netns: str, script: str) -> None:
    r = subprocess.run(
        procs.in_netns(netns, ["nft", "-f", "-"]),
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if r.returncode != 0:
        raise FaultError(f"nft in {netns}: {r.stderr.strip()}")


def partition(spec: ClusterSpec, name: str) -> None:
    """Cut node ``name`` from the other nodes and the control plane, both ways."""
    n = require_node(spec, name)
    t = PARTITION_TABLE
    _nft(n.netns, f"table inet {t}\ndelete table inet {t}\n" + partition_ruleset(n))


def heal(spec: ClusterSpec, name: str) -> None:
    """Undo :func:`partition` (idempotent)."""
    n = require_node(spec, name)
    _nft(n.netns, f"table inet {PARTITION_TABLE}\ndelete table inet {PARTITION_TABLE}\n")


def partitioned(spec: ClusterSpec, name: str) -> bool:
    n = require_node(spec, name)
    r = subprocess.run(
        procs.in_netns(n.netns, ["nft", "list", "table", "inet", PARTITION_TABLE]),
        capture_output=True,
        timeout=30,
        check=False,
    )
    return r.returncode == 0


# ------------------------------------------------------------------ where the host's clients go
def route_services_via(spec: ClusterSpec, name: str) -> None:
    """Send the host's Service traffic through node ``name`` (its kube-proxy translates it): a
    client of the cluster sits on a healthy node while another node fails."""
    n = require_node(spec, name)
    node.sh("ip", "route", "replace", str(spec.service_net), "via", n.ip)


def service_conntrack(spec: ClusterSpec, name: str, service_ip: str) -> str:
    """The TCP conntrack entries toward ``service_ip`` in node ``name``'s network namespace (where
    its kube-proxy translates the host's Service traffic), for the record of a run."""
    n = require_node(spec, name)
    r = node.sh("conntrack", "-L", "-p", "tcp", "--orig-dst", service_ip, check=False, netns=n.netns)
    return (r.stdout + r.stderr).strip()


def services_node(spec: ClusterSpec) -> str | None:
    """The node the host's Service traffic goes through, or None."""
    out = node.sh("ip", "route", "show", str(spec.service_net), check=False).stdout.split()
    via = out[out.index("via") + 1] if "via" in out else None
    return next((n.name for n in spec.node_specs if n.ip == via), None)
