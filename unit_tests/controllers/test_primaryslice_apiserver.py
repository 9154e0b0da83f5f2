"""The primary Service's EndpointSlice on a real kube-apiserver (moco.controllers.primaryslice).

The controller runs in-process; the test plays the kubelet (Pod IPs, readiness) and the
clustering loop (role labels moved old primary first, then ``route_primary`` through a
:class:`ClusterKubeSide`, as ``operations.configure`` does). A watch on the Service's slices
records every change kube-proxy would see. The upgrade test runs kube-controller-manager, whose
EndpointSlice, Endpoints and mirroring controllers serve the selector Service of an earlier
moco.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest

from moco import constants
from moco.api import MySQLCluster
from moco.controllers import services
from moco.controllers.kubeside import ClusterKubeSide
from moco.controllers.primaryslice import LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGER
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import ENDPOINTS, ENDPOINTSLICES, PODS, SERVICES, Resource
from moco.kube.store import Store
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import cluster_manifest, eventually, get_or_none, running_controller

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]

SVC = "moco-test-primary"
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
POD_LABELS = {
    constants.LABEL_APP_NAME: constants.APP_NAME_MYSQL,
    constants.LABEL_APP_INSTANCE: "test",
    constants.LABEL_APP_CREATED_BY: constants.APP_CREATOR,
}


async def make_pod(
    kube: Client, ns: str, name: str, role: str | None, ip: str | None, node: str | None = "node-a"
) -> None:
    """A mysqld Pod as the StatefulSet makes it (its ports), as the kubelet reports it.

    ``node``: its spec.nodeName (Kubernetes' EndpointSlice controller skips a Pod on a Node that
    does not exist: the upgrade test makes one)."""
    labels = dict(POD_LABELS)
    if role:
        labels[constants.LABEL_ROLE] = role
    ports = [{"name": "mysql", "containerPort": 3306}, {"name": "mysqlx", "containerPort": 33060}]
    containers = [{"name": "mysqld", "image": "mysql:test", "ports": ports}]
    await kube.create(
        PODS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": ({"nodeName": node} if node else {}) | {"containers": containers},
        },
    )
    if ip is not None:
        await set_pod(kube, ns, name, ip=ip, ready=True)


async def set_pod(kube: Client, ns: str, name: str, *, ip: str | None = None, ready: bool = True) -> None:
    value = "True" if ready else "False"
    status: dict[str, Any] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": value}, {"type": "ContainersReady", "status": value}],
    }
    if ip is not None:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    await kube.patch(PODS, name, {"status": status}, ns, subresource="status")


async def set_primary(kube: Client, ns: str, index: int) -> None:
    """``status.currentPrimaryIndex``, as the clustering loop writes it."""

    def mutate(o: dict[str, Any]) -> bool:
        o.setdefault("status", {})["currentPrimaryIndex"] = index
        return True

    await kube.update_status_with_retry(MYSQLCLUSTERS, "test", ns, mutate)


async def switch(kube: Client, ns: str, side: ClusterKubeSide, old: int, new: int) -> None:
    """A switchover's Kubernetes writes in the loop's order: the index, the route, the labels."""
    await set_primary(kube, ns, new)
    await side.route_primary(f"moco-test-{new}")
    await label(kube, ns, f"moco-test-{old}", "replica")
    await label(kube, ns, f"moco-test-{new}", "primary")


async def label(kube: Client, ns: str, pod: str, role: str | None) -> None:
    await kube.patch(PODS, pod, {"metadata": {"labels": {constants.LABEL_ROLE: role}}}, ns)


class SliceLog:
    """Every state of the Service's slices, as a watch delivers them: after each event, the
    endpoints of all slices together (what kube-proxy routes to)."""

    def __init__(self) -> None:
        self.slices: dict[str, list[tuple[str, str, bool]]] = {}
        self.states: list[tuple[tuple[str, str, bool], ...]] = []
        self.managers: dict[str, str] = {}

    def feed(self, ev: dict[str, Any]) -> None:
        obj = ev["object"]
        if ev["type"] not in ("ADDED", "MODIFIED", "DELETED"):
            return
        name = obj["metadata"]["name"]
        if ev["type"] == "DELETED":
            self.slices.pop(name, None)
        else:
            self.managers[name] = (obj["metadata"].get("labels") or {}).get(LABEL_MANAGED_BY, "")
            self.slices[name] = [
                (e["targetRef"]["name"], e["addresses"][0], bool(e["conditions"].get("ready")))
                for e in obj.get("endpoints") or []
            ]
        self.states.append(tuple(sorted({ep for eps in self.slices.values() for ep in eps})))

    def routes(self) -> list[tuple[str, ...]]:
        """The distinct Pod sets routed to, in order (consecutive repeats folded)."""
        out: list[tuple[str, ...]] = []
        for state in self.states:
            pods = tuple(sorted({name for name, _, ready in state if ready}))
            if not out or out[-1] != pods:
                out.append(pods)
        return out


@contextlib.asynccontextmanager
async def watching(kube: Client, ns: str) -> AsyncIterator[SliceLog]:
    log = SliceLog()
    started = asyncio.Event()

    async def run() -> None:
        async with kube.watch(ENDPOINTSLICES, ns, label_selector=f"{LABEL_SERVICE_NAME}={SVC}") as events:
            started.set()
            async for ev in events:
                log.feed(ev)

    task = asyncio.create_task(run())
    await asyncio.wait_for(started.wait(), 10)
    try:
        yield log
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, errors.KubeError):
            await task


async def routed(kube: Client, ns: str) -> dict[str, Any] | None:
    return await get_or_none(kube, ENDPOINTSLICES, SVC, ns)


def routes_to(slice_: dict[str, Any] | None, pod: str | None, ip: str | None = None) -> bool:
    eps = [] if slice_ is None else slice_.get("endpoints") or []
    if pod is None:
        return slice_ is not None and not eps
    return (
        len(eps) == 1 and eps[0]["targetRef"]["name"] == pod and (ip is None or eps[0]["addresses"] == [ip])
    )


async def test_the_slice_routes_to_the_primary_and_a_switchover_is_one_update(
    apiserver: Envtest, kube: Client, namespace: str, sysns: str
) -> None:
    ns = namespace
    ips = {f"moco-test-{i}": f"10.9.0.{i + 10}" for i in range(3)}
    for i, (pod, ip) in enumerate(ips.items()):
        await make_pod(kube, ns, pod, "primary" if i == 0 else "replica", ip)
    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns))
        slice_ = await eventually(
            lambda: _when(routed(kube, ns), lambda s: routes_to(s, "moco-test-0")), "slice routes to 0"
        )
        svc = await kube.get(SERVICES, SVC, ns)
        assert "selector" not in svc["spec"]
        meta = slice_["metadata"]
        assert meta["labels"][LABEL_SERVICE_NAME] == SVC
        assert meta["labels"][LABEL_MANAGED_BY] == MANAGER
        assert meta["labels"][constants.LABEL_APP_INSTANCE] == "test"
        assert [(o["kind"], o["uid"]) for o in meta["ownerReferences"]] == [
            ("Service", svc["metadata"]["uid"])
        ]
        (ep,) = slice_["endpoints"]
        assert ep["addresses"] == ["10.9.0.10"]
        assert ep["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert ep["nodeName"] == "node-a"
        assert ep["targetRef"]["kind"] == "Pod"
        assert {(p["name"], p["port"]) for p in slice_["ports"]} == {("mysql", 3306), ("mysqlx", 33060)}
        assert slice_["addressType"] == "IPv4"

        # three switchovers as the loop makes them, the controller running beside
        side = ClusterKubeSide(kube, Store(), Store(), ns, "test", sysns, timeout=5.0)
        async with watching(kube, ns) as log:
            for old, new in ((0, 1), (1, 2), (2, 0)):
                await switch(kube, ns, side, old, new)
                await eventually(
                    partial(routed_to_pod, kube, ns, f"moco-test-{new}"), f"slice routes to {new}"
                )
            await asyncio.sleep(1.0)  # the controller's reaction to the last events
        # one update per switchover: never nobody, never two, never back
        assert log.routes() == [("moco-test-0",), ("moco-test-1",), ("moco-test-2",), ("moco-test-0",)]
        assert all(len(state) <= 1 for state in log.states), log.states


async def routed_to_pod(kube: Client, ns: str, pod: str) -> bool:
    return routes_to(await routed(kube, ns), pod)


async def _when(coro: Any, pred: Any) -> Any:
    value = await coro
    return value if pred(value) else None


async def test_the_controller_follows_the_pod_and_repairs_the_slice(
    apiserver: Envtest, kube: Client, namespace: str, sysns: str
) -> None:
    ns = namespace
    await make_pod(kube, ns, "moco-test-0", "primary", "10.9.1.10")
    await make_pod(kube, ns, "moco-test-1", "replica", "10.9.1.11")
    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=1))
        await eventually(lambda: _when(routed(kube, ns), lambda s: routes_to(s, "moco-test-0")), "routed")

        # a hand edit routing elsewhere is put right
        live = await kube.get(ENDPOINTSLICES, SVC, ns)
        live["endpoints"][0]["addresses"] = ["10.9.1.99"]
        await kube.replace(ENDPOINTSLICES, live)
        await eventually(
            lambda: _when(routed(kube, ns), lambda s: routes_to(s, "moco-test-0", "10.9.1.10")), "repaired"
        )
        # and a deleted slice is written again
        await kube.delete(ENDPOINTSLICES, SVC, ns)
        await eventually(lambda: _when(routed(kube, ns), lambda s: routes_to(s, "moco-test-0")), "re-created")

        # a not-ready primary is not routed to (as Kubernetes' controller computes it)
        await set_pod(kube, ns, "moco-test-0", ready=False)

        def not_ready(s: dict[str, Any] | None) -> bool:
            eps = [] if s is None else s.get("endpoints") or []
            return len(eps) == 1 and eps[0]["conditions"] == {
                "ready": False,
                "serving": False,
                "terminating": False,
            }

        await eventually(lambda: _when(routed(kube, ns), not_ready), "not ready")
        await set_pod(kube, ns, "moco-test-0", ready=True)

        # the primary's Pod re-created: no endpoint while it has no IP, then its new IP
        old_uid = (await kube.get(PODS, "moco-test-0", ns))["metadata"]["uid"]
        await kube.delete(PODS, "moco-test-0", ns)

        def terminating(s: dict[str, Any] | None) -> bool:
            eps = [] if s is None else s.get("endpoints") or []
            return len(eps) == 1 and eps[0]["conditions"] == {
                "ready": False,
                "serving": True,
                "terminating": True,
            }

        await eventually(lambda: _when(routed(kube, ns), terminating), "terminating: not ready")
        # no kubelet here to end it: its deletion made immediate
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
        await kube.request("DELETE", PODS.path(ns, "moco-test-0"), body=body)
        await eventually(lambda: _gone(kube, ns, "moco-test-0"), "old Pod gone")
        await make_pod(kube, ns, "moco-test-0", "primary", None)
        await eventually(
            lambda: _when(routed(kube, ns), lambda s: routes_to(s, None)), "no endpoint without IP"
        )
        await set_pod(kube, ns, "moco-test-0", ip="10.9.1.20")
        slice_ = await eventually(
            lambda: _when(routed(kube, ns), lambda s: routes_to(s, "moco-test-0", "10.9.1.20")), "new IP"
        )
        assert slice_["endpoints"][0]["targetRef"]["uid"] != old_uid


async def _gone(kube: Client, ns: str, pod: str) -> bool:
    return await get_or_none(kube, PODS, pod, ns) is None


async def test_upgrade_from_the_selector_service_keeps_it_routed(
    controller_manager: Envtest, kube: Client, namespace: str, sysns: str
) -> None:
    """An earlier moco's primary Service (selector, Kubernetes' slice and Endpoints object) is
    taken over: moco's slice first, then the selector goes, then Kubernetes' leftovers; the
    Service routes to the primary at every moment, and a later switchover leaves no stale route.

    kube-controller-manager runs (StatefulSet, EndpointSlice, Endpoints, mirroring); the test
    binds the StatefulSet's Pods to a Node object and reports them running, as a kubelet would."""
    ns = namespace
    node = f"{ns}-node"[:63]
    await kube.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    try:
        await _upgrade(controller_manager, kube, ns, sysns, node)
    finally:
        await kube.delete(NODES, node)


async def _upgrade(controller_manager: Envtest, kube: Client, ns: str, sysns: str, node: str) -> None:
    pods = [f"moco-test-{i}" for i in range(3)]
    # the cluster as moco runs it now, its Pods on the node
    async with running_controller(controller_manager.kubeconfig, sysns, watch_namespace=ns):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3))
        for i, pod in enumerate(pods):
            await eventually(partial(get_or_none, kube, PODS, pod, ns), f"{pod} created")
            binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod}}
            binding["target"] = {"apiVersion": "v1", "kind": "Node", "name": node}
            await kube.request("POST", PODS.path(ns, pod, "binding"), body=binding)
            await set_pod(kube, ns, pod, ip=f"10.9.2.{10 + i}", ready=True)
            await label(kube, ns, pod, "primary" if i == 0 else "replica")
        await eventually(lambda: _when(routed(kube, ns), lambda s: routes_to(s, "moco-test-0")), "routed")
    # ... turned into what an earlier moco left: the selector Service, served by Kubernetes
    cluster = MySQLCluster.parse(await kube.get(MYSQLCLUSTERS, "test", ns))
    old_service = services.service(cluster, SVC, None, constants.ROLE_PRIMARY, headless=False)
    await kube.apply(SERVICES, old_service, field_manager=constants.FIELD_MANAGER)
    await kube.delete(ENDPOINTSLICES, SVC, ns)

    async def kube_routes() -> bool:
        items, _ = await kube.list_all(ENDPOINTSLICES, ns, label_selector=f"{LABEL_SERVICE_NAME}={SVC}")
        eps = await get_or_none(kube, ENDPOINTS, SVC, ns)
        return bool(eps) and len(items) == 1 and routes_to(items[0], "moco-test-0")

    await eventually(kube_routes, "Kubernetes' controllers route the selector Service")

    async with (
        watching(kube, ns) as log,
        running_controller(controller_manager.kubeconfig, sysns, watch_namespace=ns),
    ):

        async def taken_over() -> bool:
            svc = await kube.get(SERVICES, SVC, ns)
            items, _ = await kube.list_all(ENDPOINTSLICES, ns, label_selector=f"{LABEL_SERVICE_NAME}={SVC}")
            managers = {(s["metadata"].get("labels") or {}).get(LABEL_MANAGED_BY) for s in items}
            return (
                "selector" not in svc["spec"]
                and managers == {MANAGER}
                and await get_or_none(kube, ENDPOINTS, SVC, ns) is None
            )

        await eventually(taken_over, "moco's slice alone, no selector, no Endpoints object")
        await asyncio.sleep(3.0)  # the mirroring controller would copy a leftover back by now
        assert await taken_over()

        side = ClusterKubeSide(kube, Store(), Store(), ns, "test", sysns, timeout=5.0)
        await switch(kube, ns, side, 0, 1)
        await eventually(lambda: _when(routed(kube, ns), lambda s: routes_to(s, "moco-test-1")), "moved")
        await asyncio.sleep(1.0)
    # routed at every moment (the first state is the watch's initial list), and after the
    # switchover to the new primary alone: nothing of Kubernetes' left to route to the old one
    assert all(state for state in log.states), log.states
    assert log.routes() == [("moco-test-0",), ("moco-test-1",)]
    assert log.states[-1] == (("moco-test-1", "10.9.2.11", True),)
