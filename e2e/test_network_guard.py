"""The local provider's network guard holds: pod traffic to an outside address is dropped by
the guard inside the node, has no route out, and never reaches the host.

The probe target is 203.0.113.1 (TEST-NET-3, reserved for documentation): even if a packet
escaped it would name no real host. (192.0.2.0/24, TEST-NET-1, is avoided on purpose: some of
these machines use it for their own uplink.)
"""

from __future__ import annotations

import subprocess
import time

import pytest

from e2e.kubectl import Kubectl
from e2e.local import netguard
from e2e.local.spec import NodeSpec, current

pytestmark = pytest.mark.local_provider

OUTSIDE = "203.0.113.1"


def _node_of(k: Kubectl, pod: str) -> NodeSpec:
    name = k.get("pod", pod)["spec"]["nodeName"]
    return next(n for n in current().node_specs if n.name == name)


def _pod_drops(node: NodeSpec) -> int:
    return netguard.counters(node.netns, netguard.NODE_TABLE)[netguard.POD_EGRESS]


def test_guard_tables_are_installed() -> None:
    spec = current()
    assert netguard.host_table_present(spec)
    for node in spec.node_specs:
        assert netguard.POD_EGRESS in netguard.counters(node.netns, netguard.NODE_TABLE)


def test_pod_connect_to_outside_address_is_dropped_by_the_guard(k: Kubectl, shell_pod: str) -> None:
    node = _node_of(k, shell_pod)
    before = _pod_drops(node)
    rc, out = k.exec_rc(shell_pod, "nc", "-w", "2", OUTSIDE, "80", timeout=30)
    assert rc != 0, out
    assert _pod_drops(node) > before
    assert OUTSIDE in netguard.dropped_destinations(node.netns)


def test_node_namespace_has_no_route_out(k: Kubectl, shell_pod: str) -> None:
    node = _node_of(k, shell_pod)
    r = subprocess.run(
        ["ip", "netns", "exec", node.netns, "ip", "route", "get", OUTSIDE],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert r.returncode != 0
    assert "unreachable" in r.stderr.lower()


def test_outside_traffic_never_reaches_the_host(k: Kubectl, shell_pod: str) -> None:
    k.exec_rc(shell_pod, "nc", "-w", "1", OUTSIDE, "443", timeout=30)
    host = netguard.counters(None, current().host_guard_table)
    assert host["moco-guard from nodes"] == 0, host
    assert host[netguard.HOST_UPLINK] == 0, host


def test_dns_for_outside_names_stays_inside(k: Kubectl, shell_pod: str) -> None:
    """CoreDNS forwards nothing: an outside name fails at once and no packet heads out."""
    node = _node_of(k, shell_pod)
    before = _pod_drops(node), netguard.dropped_destinations(node.netns)
    t0 = time.monotonic()
    rc, out = k.exec_rc(shell_pod, "nslookup", "example.com", timeout=30)
    assert rc != 0, out
    assert time.monotonic() - t0 < 3.0, out
    assert _pod_drops(node) == before[0]
    # Only link-local multicast (the kernel's IGMP reports) may show up besides what was there.
    new = netguard.dropped_destinations(node.netns) - before[1]
    assert all(a.startswith("224.0.0.") for a in new), new
