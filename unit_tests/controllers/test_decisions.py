"""Pure decisions: the partition controller's step, status conditions, claim growth, Pod views."""

from __future__ import annotations

from typing import Any

import pytest

from moco import constants
from moco.api import MySQLCluster
from moco.controllers import status as st
from moco.controllers.kubeside import pod_info, spec_view
from moco.controllers.partition import REVISION_LABEL, Step, decide_step
from moco.controllers.volumes import Blocked, ClaimPlan, Growth, Kept, plan_claims
from unit_tests.controllers.render_helpers import load_example

NEW, OLD = "rev-new", "rev-old"


def pod(
    i: int, rev: str, *, ready: bool = True, role: str = "replica", deleting: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": f"moco-test-{i}",
        "namespace": "ns",
        "labels": {REVISION_LABEL: rev, constants.LABEL_ROLE: role},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "mysqld", "ready": ready}],
            "initContainerStatuses": [
                {"name": "moco-init", "ready": False, "state": {"terminated": {"exitCode": 0}}}
            ],
        },
    }


def sts(partition: int, replicas: int = 3, updated: int = 0, *, force: bool = False) -> dict[str, Any]:
    ann = {constants.ANN_FORCE_ROLLING_UPDATE: "true"} if force else {}
    return {
        "metadata": {"name": "moco-test", "generation": 2, "annotations": ann},
        "spec": {"replicas": replicas, "updateStrategy": {"rollingUpdate": {"partition": partition}}},
        "status": {"observedGeneration": 2, "updatedReplicas": updated, "updateRevision": NEW},
    }


def cluster(healthy: bool = True, reconciled: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"generation": 5},
        "status": {
            "reconcileInfo": {"generation": 5 if reconciled else 4},
            "conditions": [{"type": "Healthy", "status": "True" if healthy else "False"}],
        },
    }


PRIMARY_LAST = [pod(0, OLD, role="primary"), pod(1, OLD), pod(2, OLD)]


@pytest.mark.parametrize(
    ("c", "s", "pods", "step", "partition"),
    [
        (cluster(), sts(0), PRIMARY_LAST, Step.NOTHING, 0),
        (cluster(), sts(3, force=True), PRIMARY_LAST, Step.NOTHING, 0),
        (cluster(reconciled=False), sts(3), PRIMARY_LAST, Step.WAIT, 0),
        (cluster(), sts(3), PRIMARY_LAST, Step.LOWER, 2),  # first step: the highest replica
        (cluster(healthy=False), sts(3), PRIMARY_LAST, Step.WAIT, 0),  # unhealthy: stop
        (
            cluster(),
            sts(2),
            [pod(0, OLD, role="primary"), pod(1, OLD), pod(2, NEW, ready=False)],
            Step.WAIT,
            0,
        ),
        (cluster(), sts(2), [pod(0, OLD, role="primary"), pod(1, OLD), pod(2, OLD)], Step.WAIT, 0),
        (cluster(), sts(2), [pod(0, OLD, role="primary"), pod(1, OLD), pod(2, NEW)], Step.LOWER, 1),
        (
            cluster(),
            sts(2),
            [pod(0, OLD, role="primary"), pod(1, OLD, ready=False), pod(2, NEW)],
            Step.LOWER,
            1,
        ),
        (cluster(), sts(2), [pod(0, OLD), pod(1, OLD), pod(2, NEW, deleting=True)], Step.WAIT, 0),
        (cluster(), sts(2), [pod(0, OLD), pod(1, OLD)], Step.WAIT, 0),  # a Pod is missing
        (cluster(), sts(1), [pod(0, OLD, role="primary"), pod(1, NEW), pod(2, NEW)], Step.DEMOTE, 0),
        (cluster(), sts(1), [pod(0, OLD), pod(1, NEW, role="primary"), pod(2, NEW)], Step.LOWER, 0),
        (cluster(), sts(1, updated=3), PRIMARY_LAST, Step.LOWER, 0),
    ],
)
def test_partition_step(
    c: dict[str, Any], s: dict[str, Any], pods: list[dict[str, Any]], step: Step, partition: int
) -> None:
    d = decide_step(c, s, pods)
    assert d.step is step, d.reason
    if step is Step.LOWER:
        assert d.partition == partition
    if step is Step.DEMOTE:
        assert d.target == "moco-test-0"


def test_conditions_keep_others_and_transition_times() -> None:
    status: dict[str, Any] = {
        "conditions": [
            {"type": "Healthy", "status": "True", "reason": "x", "message": "", "lastTransitionTime": "t0"}
        ]
    }
    assert st.apply_conditions(status, [st.reconcile_success(None)], 3, "t1")
    assert not st.apply_conditions(status, [st.reconcile_success(None)], 3, "t2")
    assert st.apply_conditions(status, [st.reconcile_success("boom", "InvalidSpec")], 3, "t3")
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Healthy"]["lastTransitionTime"] == "t0"
    assert by_type["ReconcileSuccess"] == {
        "type": "ReconcileSuccess",
        "status": "False",
        "reason": "InvalidSpec",
        "message": "boom",
        "lastTransitionTime": "t3",
        "observedGeneration": 3,
    }
    assert st.set_reconcile_info(status, 3)
    assert not st.set_reconcile_info(status, 3)


def test_statefulset_ready() -> None:
    assert not st.statefulset_ready(None).status
    ready = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 3},
        "status": {
            "availableReplicas": 3,
            "currentRevision": "a",
            "updateRevision": "a",
            "observedGeneration": 2,
        },
    }
    assert st.statefulset_ready(ready).status
    rolling = {**ready, "status": {**ready["status"], "updateRevision": "b"}}  # type: ignore[dict-item]
    assert not st.statefulset_ready(rolling).status


def _cluster_with_storage(size: str) -> MySQLCluster:
    c, _ = load_example("guaranteed.yaml")
    data = c.to_json()
    data["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = size
    return MySQLCluster.parse(data)


def pvc(name: str, size: str, sc: str | None = "fast") -> dict[str, Any]:
    spec: dict[str, Any] = {"resources": {"requests": {"storage": size}}}
    if sc:
        spec["storageClassName"] = sc
    return {"metadata": {"name": name}, "spec": spec}


EXPANDABLE = {"fast": {"allowVolumeExpansion": True}}


@pytest.mark.parametrize(
    ("rule", "template", "claim", "classes", "default", "want"),
    [
        ("1 equal", "2Gi", pvc("mysql-data-moco-test-0", "2Gi"), {}, None, ClaimPlan()),
        ("1 not ours", "2Gi", pvc("other-0", "1Gi"), EXPANDABLE, None, ClaimPlan()),
        (
            "2 shrink is kept, whatever the class",
            "512Mi",
            pvc("mysql-data-moco-test-0", "1Gi"),
            {},
            None,
            ClaimPlan(kept=[Kept("mysql-data-moco-test-0", "1Gi", "512Mi")]),
        ),
        (
            "3 growth, named class expands",
            "2Gi",
            pvc("mysql-data-moco-test-0", "1Gi"),
            EXPANDABLE,
            None,
            ClaimPlan(grow=[Growth("mysql-data-moco-test-0", "2Gi", "fast")]),
        ),
        (
            "3 growth, default class expands",
            "2Gi",
            pvc("mysql-data-moco-test-0", "1Gi", sc=None),
            {},
            {"allowVolumeExpansion": True},
            ClaimPlan(grow=[Growth("mysql-data-moco-test-0", "2Gi", None)]),
        ),
        (
            "4 growth, named class does not expand",
            "2Gi",
            pvc("mysql-data-moco-test-0", "1Gi"),
            {"fast": {}},
            None,
            ClaimPlan(blocked=[Blocked("mysql-data-moco-test-0", "2Gi", "fast")]),
        ),
        (
            "4 growth, no default class",
            "2Gi",
            pvc("mysql-data-moco-test-0", "1Gi", sc=None),
            EXPANDABLE,
            None,
            ClaimPlan(blocked=[Blocked("mysql-data-moco-test-0", "2Gi", None)]),
        ),
        (
            "4 growth, class unknown (not readable)",
            "2Gi",
            pvc("mysql-data-moco-test-0", "1Gi"),
            {},
            None,
            ClaimPlan(blocked=[Blocked("mysql-data-moco-test-0", "2Gi", "fast")]),
        ),
    ],
)
def test_claim_plan_rules(
    rule: str, template: str, claim: dict[str, Any], classes: dict[str, Any], default: Any, want: ClaimPlan
) -> None:
    assert plan_claims(_cluster_with_storage(template), [claim], classes, default) == want, rule


def test_claim_plan_messages_name_the_claim_and_the_fix() -> None:
    k = Kept("mysql-data-moco-test-0", "1Gi", "512Mi").message()
    assert "mysql-data-moco-test-0 keeps 1Gi" in k
    assert "delete the claim and its Pod" in k
    b = Blocked("mysql-data-moco-test-0", "2Gi", None).message()
    assert "StorageClass (default)" in b
    assert "allowVolumeExpansion: true" in b


def test_pod_and_spec_views() -> None:
    p = pod(2, NEW, ready=False, role="primary", deleting=True)
    p["status"]["podIP"] = "10.0.0.5"
    p["metadata"]["annotations"] = {constants.ANN_DEMOTE: "true"}
    info = pod_info(p, "test")
    assert info is not None
    assert (info.index, info.host, info.ready, info.deleting, info.demote, info.role) == (
        2,
        "10.0.0.5",
        False,
        True,
        True,
        "primary",
    )
    # no Pod IP yet: no address, and no DNS name in its place (a look-up before the Pod's DNS
    # record exists is cached as "no such name" and the replicas could not resolve it)
    del p["status"]["podIP"]
    no_ip = pod_info(p, "test")
    assert no_ip is not None
    assert no_ip.host == ""
    assert pod_info({"metadata": {"name": "moco-test-x"}}, "test") is None
    assert pod_info({"metadata": {"name": "moco-other-0"}}, "test") is None
    c, _ = load_example("guaranteed.yaml")
    data = c.to_json()
    data["metadata"]["annotations"] = {constants.ANN_CLUSTERING_STOPPED: "true"}
    data["status"] = {"currentPrimaryIndex": 2, "cloned": True, "errantReplicaList": [1]}
    v = spec_view(MySQLCluster.parse(data))
    assert (v.replicas, v.current_primary_index, v.clustering_stopped, v.cloned, v.errant_replica_list) == (
        3,
        2,
        True,
        True,
        (1,),
    )
    assert v.server_id_base == c.spec.server_id_base
