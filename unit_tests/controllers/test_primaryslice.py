"""The primary Service's EndpointSlice, the pure rules (moco.controllers.primaryslice, 1-5, 8)."""

from __future__ import annotations

from typing import Any

import pytest

from moco.controllers.primaryslice import (
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    MANAGER,
    desired,
    primary_index,
    routed_to,
    stale_kube_slices,
    target_pod,
    up_to_date,
)

SERVICE: dict[str, Any] = {
    "metadata": {"name": "moco-c-primary", "namespace": "ns", "uid": "svc-uid", "labels": {"app": "x"}},
    "spec": {
        "ports": [
            {"name": "mysql", "port": 3306, "targetPort": "mysql", "protocol": "TCP"},
            {"name": "mysqlx", "port": 33060, "targetPort": "mysqlx", "protocol": "TCP"},
            {"name": "extra", "port": 9, "targetPort": 9999},
            {"name": "missing", "port": 8, "targetPort": "nope"},
        ]
    },
}


def pod(
    name: str,
    role: str | None = None,
    ip: str | None = "10.0.0.1",
    ready: bool = True,
    deleting: bool = False,
    phase: str = "Running",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"{name}-uid", "labels": {}}
    if role:
        meta["labels"]["moco.cybozu.com/role"] = role
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status["podIP"] = ip
    ports = [{"name": "mysql", "containerPort": 3306}, {"name": "mysqlx", "containerPort": 33060}]
    return {
        "metadata": meta,
        "spec": {"nodeName": "n1", "containers": [{"name": "mysqld", "ports": ports}]},
        "status": status,
    }


def slice_to(name: str | None) -> dict[str, Any]:
    return desired(SERVICE, None if name is None else pod(name))


@pytest.mark.parametrize(
    ("status", "pods", "expected"),
    [
        # rule 1: the Pod of status.currentPrimaryIndex, whatever the labels say (the loop
        # routes before it moves them)
        ({"currentPrimaryIndex": 1}, [pod("moco-c-0", "primary"), pod("moco-c-1", "replica")], "moco-c-1"),
        ({"currentPrimaryIndex": 0}, [pod("moco-c-0", "replica"), pod("moco-c-1", "primary")], "moco-c-0"),
        # no status yet: instance 0, as in MOCO
        ({}, [pod("moco-c-0"), pod("moco-c-1")], "moco-c-0"),
        # the chosen primary's Pod does not exist: nobody
        ({"currentPrimaryIndex": 2}, [pod("moco-c-0"), pod("moco-c-1")], None),
    ],
)
def test_target_pod(status: dict[str, Any], pods: list[dict[str, Any]], expected: str | None) -> None:
    got = target_pod("c", primary_index({"status": status}), pods)
    assert (None if got is None else got["metadata"]["name"]) == expected


@pytest.mark.parametrize(
    ("p", "conditions"),
    [
        # rule 3: as Kubernetes' EndpointSlice controller computes them
        (pod("c-0"), {"ready": True, "serving": True, "terminating": False}),
        (pod("c-0", ready=False), {"ready": False, "serving": False, "terminating": False}),
        (pod("c-0", deleting=True), {"ready": False, "serving": True, "terminating": True}),
        # rule 2: no IP, or terminal: no endpoint
        (pod("c-0", ip=None), None),
        (pod("c-0", phase="Failed"), None),
        (pod("c-0", phase="Succeeded"), None),
    ],
)
def test_endpoint_conditions(p: dict[str, Any], conditions: dict[str, bool] | None) -> None:
    s = desired(SERVICE, p)
    if conditions is None:
        assert s["endpoints"] == []
        assert s["ports"] == []
        return
    (ep,) = s["endpoints"]
    assert ep["conditions"] == conditions
    assert ep["addresses"] == ["10.0.0.1"]
    assert ep["nodeName"] == "n1"
    assert ep["targetRef"] == {"kind": "Pod", "namespace": "ns", "name": "c-0", "uid": "c-0-uid"}


def test_ports_labels_and_owner() -> None:
    s = desired(SERVICE, pod("c-0"))
    # rule 4: named targets resolved against the Pod, numbers kept, unknown names left out
    assert s["ports"] == [
        {"name": "mysql", "port": 3306, "protocol": "TCP"},
        {"name": "mysqlx", "port": 33060, "protocol": "TCP"},
        {"name": "extra", "port": 9999, "protocol": "TCP"},
    ]
    # rule 5
    assert s["metadata"]["name"] == "moco-c-primary"
    assert s["metadata"]["labels"] == {
        "app": "x",
        LABEL_SERVICE_NAME: "moco-c-primary",
        LABEL_MANAGED_BY: MANAGER,
    }
    assert s["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    assert s["addressType"] == "IPv4"
    assert desired(SERVICE, pod("c-0", ip="fd00::1"))["addressType"] == "IPv6"


def test_up_to_date_compares_what_moco_writes() -> None:
    want = slice_to("c-0")
    live = desired(SERVICE, pod("c-0"))
    live["metadata"]["resourceVersion"] = "7"
    live["metadata"]["labels"]["other"] = "kept"
    live["endpoints"][0]["zone"] = "a"  # a field moco does not write
    assert up_to_date(want, live)
    assert not up_to_date(want, slice_to("c-1"))
    assert not up_to_date(want, desired(SERVICE, pod("c-0", ready=False)))
    assert not up_to_date(want, desired(SERVICE, pod("c-0", ip="10.0.0.2")))
    moved = desired(SERVICE, pod("c-0"))
    moved["metadata"]["ownerReferences"] = []
    assert not up_to_date(want, moved)
    assert routed_to(want) == "c-0"
    assert routed_to(slice_to(None)) is None


def test_stale_kube_slices_only_once_the_selector_is_gone() -> None:
    def kube_slice(name: str, manager: str, service: str = "moco-c-primary") -> dict[str, Any]:
        return {
            "metadata": {"name": name, "labels": {LABEL_SERVICE_NAME: service, LABEL_MANAGED_BY: manager}}
        }

    slices = [
        kube_slice("a", "endpointslice-controller.k8s.io"),
        kube_slice("b", "endpointslicemirroring-controller.k8s.io"),
        kube_slice("moco-c-primary", MANAGER),
        kube_slice("c", "someone-else"),
        kube_slice("d", "endpointslice-controller.k8s.io", service="moco-c-replica"),
    ]
    assert [s["metadata"]["name"] for s in stale_kube_slices(SERVICE, slices)] == ["a", "b"]
    with_selector = {**SERVICE, "spec": {**SERVICE["spec"], "selector": {"x": "y"}}}
    assert stale_kube_slices(with_selector, slices) == []
