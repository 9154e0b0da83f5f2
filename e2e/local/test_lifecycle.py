"""The local provider's life cycle, on a second, throw-away cluster beside the main one:
``up`` runs a Pod, ``down`` leaves nothing of it on the machine (processes, mounts, namespaces,
links, routes, nft tables, cgroups, directories), checked by listing before and after."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

import pytest

from e2e.kubectl import Kubectl
from e2e.local import cluster, images
from e2e.local.spec import ClusterSpec

pytestmark = pytest.mark.local_provider

SPEC = ClusterSpec(
    name="mocolc",
    data_root=Path("/var/lib/moco-local-lc"),
    run_root=Path("/run/moco-local-lc"),
    node_net=ipaddress.IPv4Network("10.251.0.0/24"),
    pod_net=ipaddress.IPv4Network("10.245.0.0/16"),
    service_net=ipaddress.IPv4Network("10.97.0.0/16"),
    etcd_client_port=12479,
    etcd_peer_port=12480,
    controller_manager_port=20357,
    scheduler_port=20359,
    with_mysql_image=False,
)
MARKS = ("mocolc", "10.245.", "10.251.", "10.97.", str(SPEC.data_root), str(SPEC.run_root))


def _machine() -> set[str]:
    """What this machine holds that could belong to the throw-away cluster."""
    out: set[str] = set()
    listings = {
        "link": ["ip", "-o", "link"],
        "route": ["ip", "route"],
        "netns": ["ip", "netns"],
        "nft": ["nft", "list", "tables"],
    }
    for what, argv in listings.items():
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
        out.update(f"{what}: {line.split('<')[0]}" for line in r.stdout.splitlines())
    out.update("mount: " + line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    out.update(f"cgroup: {p}" for p in Path("/sys/fs/cgroup").glob("*/mocolc-*"))
    return {item for item in out if any(m in item for m in MARKS)}


def test_up_runs_a_pod_and_down_leaves_nothing() -> None:
    before = _machine()
    assert before == set(), f"a previous run left: {before}"
    try:
        cluster.up(SPEC)
        during = _machine()
        assert any(item.startswith("link: ") for item in during)
        k = Kubectl(SPEC.kubeconfig, "default")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "lifecycle"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "main",
                        "image": images.busybox_image().ref,
                        "imagePullPolicy": "Never",
                        "command": ["sleep", "3600"],
                    }
                ],
            },
        }
        k.apply(json.dumps(pod))
        k.wait_ready("pod/lifecycle", timeout=120)
        ip = k.get("pod", "lifecycle")["status"]["podIP"]
        assert ipaddress.IPv4Address(ip) in SPEC.pod_net
        assert k.exec("lifecycle", "echo", "alive").strip() == "alive"
        assert any(item.startswith("mount: ") for item in _machine())
    finally:
        left = cluster.down(SPEC, quiet=True)
    assert not any(left.values()), left
    assert _machine() == set()
    assert sorted(p.name for p in SPEC.data_root.iterdir()) == ["images"]
    assert not SPEC.run_root.exists()
