"""A partitioned rolling update on a real apiserver with the StatefulSet controller of
kube-controller-manager creating and replacing the Pods. No kubelet runs: the test plays the
kubelet (Pod readiness) and the clustering loop (the Healthy condition, role labels, honouring
a demote request), and watches the partition controller step the rollout down."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from moco import constants
from moco.controllers.partition import REVISION_LABEL
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.resource import CONFIGMAPS, NAMESPACES, PODS, STATEFULSETS
from moco.testing.envtest import Envtest
from unit_tests.clustering.test_metrics import series
from unit_tests.controllers.harness import cluster_manifest, eventually, running_controller

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]


async def set_ready(kube: Client, ns: str, pod: str, ready: bool = True) -> None:
    value = "True" if ready else "False"
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": value}, {"type": "ContainersReady", "status": value}],
    }
    await kube.patch(PODS, pod, {"status": status}, ns, subresource="status")


async def set_healthy(kube: Client, ns: str, healthy: bool) -> None:
    def mutate(o: dict[str, Any]) -> bool:
        st = o.setdefault("status", {})
        st.setdefault("currentPrimaryIndex", 0)
        conds = [c for c in st.get("conditions") or [] if c["type"] != "Healthy"]
        conds.append(
            {
                "type": "Healthy",
                "status": "True" if healthy else "False",
                "reason": "Test",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        )
        st["conditions"] = conds
        return True

    await kube.update_status_with_retry(MYSQLCLUSTERS, "test", ns, mutate)


async def pods_by_index(kube: Client, ns: str) -> dict[int, dict[str, Any]]:
    items, _ = await kube.list_all(PODS, ns)
    return {
        int(p["metadata"]["name"].rsplit("-", 1)[1]): p
        for p in items
        if not p["metadata"].get("deletionTimestamp")
    }


async def test_rollout_steps_down_replicas_first_and_stops_when_unhealthy(
    controller_manager: Envtest, kube: Client, namespace: str
) -> None:
    ns = namespace
    sysns = f"{ns}-sys"[:63]
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": sysns}})
    await kube.create(
        CONFIGMAPS,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "mycnf", "namespace": ns},
            "data": {"a": "1"},
        },
    )
    try:
        async with running_controller(controller_manager.kubeconfig, sysns, watch_namespace=ns) as wiring:
            wiring.partition.wait_interval = 0.5
            await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3, mysqlConfigMapName="mycnf"))

            async def three_pods() -> dict[int, dict[str, Any]] | None:
                pods = await pods_by_index(kube, ns)
                return pods if len(pods) == 3 else None

            pods = await eventually(three_pods, "the StatefulSet controller made 3 Pods")
            for i in pods:
                await set_ready(kube, ns, f"moco-test-{i}")
            await kube.patch(
                PODS, "moco-test-0", {"metadata": {"labels": {constants.LABEL_ROLE: "primary"}}}, ns
            )
            await set_healthy(kube, ns, True)

            # an unhealthy cluster: the template changes, but no Pod is replaced
            await set_healthy(kube, ns, False)
            await kube.patch(CONFIGMAPS, "mycnf", {"data": {"a": "2"}}, ns)

            async def partition(value: int) -> bool:
                sts = await kube.get(STATEFULSETS, "moco-test", ns)
                return bool(sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == value)

            await eventually(lambda: partition(3), "rollout set up with partition 3")
            sts = await kube.get(STATEFULSETS, "moco-test", ns)
            new_rev = await eventually(
                lambda: _update_revision(kube, ns, sts["status"].get("currentRevision")), "new revision"
            )
            await asyncio.sleep(2.0)
            assert await partition(3), "the rollout went on while the cluster was unhealthy"

            # healthy again: the highest replica first
            await set_healthy(kube, ns, True)
            await eventually(lambda: partition(2), "partition 2")

            async def replaced(i: int) -> bool:
                p = (await pods_by_index(kube, ns)).get(i)
                return bool(p and p["metadata"]["labels"].get(REVISION_LABEL) == new_rev)

            await eventually(lambda: replaced(2), "Pod 2 replaced")
            assert await partition(2), "went on before the replaced Pod was ready"
            await set_ready(kube, ns, "moco-test-2")
            await eventually(lambda: partition(1), "partition 1")
            await eventually(lambda: replaced(1), "Pod 1 replaced")
            await set_ready(kube, ns, "moco-test-1")

            # the primary is next: it is demoted first, and its Pod waits for the switchover
            async def demoted() -> bool:
                p = await kube.get(PODS, "moco-test-0", ns)
                return (p["metadata"].get("annotations") or {}).get(constants.ANN_DEMOTE) == "true"

            await eventually(demoted, "primary asked to step down")
            assert await partition(1)
            # the clustering loop's switchover, played by the test
            await kube.patch(
                PODS, "moco-test-1", {"metadata": {"labels": {constants.LABEL_ROLE: "primary"}}}, ns
            )
            await kube.patch(
                PODS,
                "moco-test-0",
                {
                    "metadata": {
                        "labels": {constants.LABEL_ROLE: "replica"},
                        "annotations": {constants.ANN_DEMOTE: None},
                    }
                },
                ns,
            )
            await eventually(lambda: partition(0), "partition 0")
            await eventually(lambda: replaced(0), "Pod 0 replaced")
            got = series("test", ns)
            assert time.time() - 120 < got["moco_cluster_last_partition_updated"] <= time.time()
            assert got["moco_cluster_updated_replicas"] >= 0
    finally:
        await kube.delete(NAMESPACES, sysns)


async def _update_revision(kube: Client, ns: str, current: str | None) -> str | None:
    sts = await kube.get(STATEFULSETS, "moco-test", ns)
    rev = sts["status"].get("updateRevision")
    return rev if rev and rev != current else None
