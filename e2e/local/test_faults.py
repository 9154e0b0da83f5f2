"""The fault injectors' parts that need no cluster: the partition ruleset is valid nftables that
drops both ways on the uplink only, a container's process is found in a cgroup tree laid out as
kubelet's cgroupfs driver does it, and nothing outside the cluster's own nodes is accepted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from e2e.local import faults
from e2e.local.spec import ClusterSpec

CID = "3f1c2a9e" * 8


@pytest.fixture
def spec(tmp_path: Path) -> ClusterSpec:
    return ClusterSpec(nodes=3, data_root=tmp_path / "data", run_root=tmp_path / "run")


def test_partition_ruleset_is_valid_and_cuts_the_uplink_both_ways(spec: ClusterSpec) -> None:
    n = spec.node_specs[1]
    rules = faults.partition_ruleset(n)
    r = subprocess.run(
        ["nft", "-c", "-f", "-"], input=rules, capture_output=True, text=True, timeout=30, check=False
    )
    assert r.returncode == 0, r.stderr
    assert f'iifname "{n.veth_node}" counter drop' in rules
    assert f'oifname "{n.veth_node}" counter drop' in rules
    # before the guard table's chains (-90) and kube-proxy's nat chains (-100)
    assert rules.count("priority -400") == 2
    assert "10." not in rules  # no address: the node's own pods and processes stay connected


def _cgroup_tree(root: Path, pids: list[int]) -> Path:
    """A node cgroup root as kubelet's cgroupfs driver lays it out, with one container."""
    pod = root / "kubepods" / "burstable" / "pod1234"
    (pod / "sandbox0").mkdir(parents=True)
    (pod / "sandbox0" / "cgroup.procs").write_text("1\n")
    c = pod / CID
    c.mkdir()
    (c / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))
    return c


def _proc(tmp: Path, comms: dict[int, str]) -> Path:
    proc = tmp / "proc"
    for pid, comm in comms.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "comm").write_text(comm + "\n")
    return proc


def test_container_process_is_found_by_cgroup_and_name(tmp_path: Path) -> None:
    root = tmp_path / "cpu" / "moco-node1"
    cg = _cgroup_tree(root, [4711, 4800, 4712])
    assert faults.container_cgroup(root, CID) == cg
    assert faults.container_cgroup(root, "0" * 64) is None
    assert faults.container_cgroup(tmp_path / "absent", CID) is None
    pids = faults.cgroup_procs(cg)
    assert pids == [4711, 4712, 4800]
    proc = _proc(tmp_path, {4711: "sh", 4712: "mysqld", 4800: "mysqld"})
    assert faults.process_named(pids, "mysqld", proc) == 4712  # the oldest mysqld
    assert faults.process_named(pids, "mysqlsh", proc) is None
    assert faults.process_named([9999], "mysqld", proc) is None  # gone meanwhile


def test_container_id_comes_from_a_running_container_only() -> None:
    pod: dict[str, Any] = {
        "status": {
            "containerStatuses": [
                {"name": "agent", "containerID": "containerd://aaa", "state": {"running": {}}},
                {"name": "mysqld", "containerID": f"containerd://{CID}", "state": {"running": {}}},
            ]
        }
    }
    assert faults.container_id_of(pod, "mysqld") == CID
    pod["status"]["containerStatuses"][1]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    with pytest.raises(faults.FaultError):
        faults.container_id_of(pod, "mysqld")


def test_only_the_clusters_own_nodes_are_accepted(spec: ClusterSpec, tmp_path: Path) -> None:
    netns = tmp_path / "netns"
    netns.mkdir()
    (netns / spec.node_specs[2].netns).touch()
    assert faults.require_node(spec, spec.node_specs[2].name, netns).index == 2
    with pytest.raises(faults.FaultError, match="does not exist"):
        faults.require_node(spec, spec.node_specs[0].name, netns)
    for foreign in ("", "default", "moco-node3", "other-node0"):
        with pytest.raises(faults.FaultError, match="not a node"):
            faults.require_node(spec, foreign, netns)


def test_a_stopped_process_is_seen_stopped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not faults._is_stopped(child.pid)
        os.kill(child.pid, signal.SIGSTOP)
        for _ in range(100):
            if faults._is_stopped(child.pid):
                break
            subprocess.run(["sleep", "0.01"], check=True)
        assert faults._is_stopped(child.pid)
        os.kill(child.pid, signal.SIGCONT)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert faults._is_stopped(child.pid)  # gone counts as stopped


def test_cgroup_pids_survive_cgroups_vanishing_during_the_walk(
    spec: ClusterSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node loss kills its containers while their pids are collected: cgroups vanish under the
    walk (rglob raised FileNotFoundError and ended a chaos run)."""
    from e2e.local import node

    root = tmp_path / "cg" / "moco-node1"
    keep = root / "kubepods" / "pod-a" / "c1"
    gone = root / "kubepods" / "pod-b" / "c2"
    for d, pids in ((keep, "11\n12\n"), (gone, "13\n")):
        d.mkdir(parents=True)
        (d / "cgroup.procs").write_text(pids)
    real = os.scandir

    def vanishing(path: Any) -> Any:
        if Path(path) == gone.parent:  # the pod's cgroup goes as the walk reaches it
            (gone / "cgroup.procs").unlink()
            gone.rmdir()
            gone.parent.rmdir()
        return real(path)

    monkeypatch.setattr(os, "scandir", vanishing)
    monkeypatch.setattr(node, "_cgroup_dirs", lambda n: [root, tmp_path / "cg" / "absent"])
    assert node.cgroup_pids(spec.node_specs[1]) == {11, 12}
