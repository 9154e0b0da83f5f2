"""``status.clustering`` through the Kubernetes side on a real apiserver (apiserver tier): the
CRD's schema admits what the loop writes, a restarted operator's report keeps the recorded
primary change, and the same report again changes nothing (resourceVersion unchanged)."""

from __future__ import annotations

import pytest

from moco.clustering.interfaces import NextOperation, PrimaryChange, StatusUpdate
from moco.controllers.kubeside import ClusterKubeSide
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.store import Store
from unit_tests.controllers.harness import cluster_manifest

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(120)]

CHANGE = PrimaryChange("Failover", "2026-01-02T03:04:05Z", 0, 2, 2.5, "the primary does not answer")


async def test_clustering_status_round_trip(kube: Client, namespace: str) -> None:
    ns = namespace
    await kube.create(MYSQLCLUSTERS, cluster_manifest(ns))
    side = ClusterKubeSide(kube, Store(), Store(), ns, "test", ns, timeout=5.0)

    await side.update_status(
        StatusUpdate(next_operation=NextOperation("Failover", None, "the primary does not answer"))
    )
    await side.update_status(StatusUpdate(next_operation=NextOperation("None"), last_primary_change=CHANGE))
    obj = await kube.get(MYSQLCLUSTERS, "test", ns)
    assert obj["status"]["clustering"] == {
        "nextOperation": "None",
        "nextOperationReason": "",
        "lastPrimaryChange": {
            "operation": "Failover",
            "time": "2026-01-02T03:04:05Z",
            "fromIndex": 0,
            "toIndex": 2,
            "writeUnavailableMillis": 2500,
            "reason": "the primary does not answer",
        },
    }

    # a restarted operator reports the decision only: the recorded change stays, and the same
    # report is not written again
    version = obj["metadata"]["resourceVersion"]
    await side.update_status(StatusUpdate(next_operation=NextOperation("None")))
    after = await kube.get(MYSQLCLUSTERS, "test", ns)
    assert after["metadata"]["resourceVersion"] == version
    assert after["status"]["clustering"]["lastPrimaryChange"]["toIndex"] == 2

    # the switchover's target is kept with it and dropped with it
    await side.update_status(StatusUpdate(next_operation=NextOperation("Switchover", 1, "demote")))
    got = (await kube.get(MYSQLCLUSTERS, "test", ns))["status"]["clustering"]
    assert (got["nextOperation"], got["nextOperationTarget"]) == ("Switchover", 1)
    await side.update_status(StatusUpdate(next_operation=NextOperation("None")))
    got = (await kube.get(MYSQLCLUSTERS, "test", ns))["status"]["clustering"]
    assert "nextOperationTarget" not in got
