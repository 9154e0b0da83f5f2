"""Every ``moco_cluster_*`` series of MOCO's controller (its ``pkg/metrics``), as moco exposes it
(unit tier): name, type, labels ``name`` and ``namespace``, MOCO's processing-time buckets, and
nothing left once the cluster is deleted. The clustering loop's series come from
:mod:`moco.clustering.metrics`, the reconcilers' from :mod:`moco.controllers.clustermetrics`."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from moco.clustering.metrics import ClusterMetrics
from moco.clustering.types import ClusterState
from moco.controllers import clustermetrics
from moco.kube.exposition import exposition
from unit_tests.clustering.builders import healthy

#: MOCO's pkg/metrics: family name as exposed -> type.
MOCO_CLUSTER_METRICS = {
    "moco_cluster_checks": "counter",
    "moco_cluster_errors": "counter",
    "moco_cluster_available": "gauge",
    "moco_cluster_healthy": "gauge",
    "moco_cluster_switchover": "counter",
    "moco_cluster_failover": "counter",
    "moco_cluster_replicas": "gauge",
    "moco_cluster_ready_replicas": "gauge",
    "moco_cluster_errant_replicas": "gauge",
    "moco_cluster_processing_time_seconds": "histogram",
    "moco_cluster_volume_resized": "counter",
    "moco_cluster_volume_resized_errors": "counter",
    "moco_cluster_statefulset_recreate": "counter",
    "moco_cluster_statefulset_recreate_errors": "counter",
    "moco_cluster_clustering_stopped": "gauge",
    "moco_cluster_reconciliation_stopped": "gauge",
    "moco_cluster_current_replicas": "gauge",
    "moco_cluster_updated_replicas": "gauge",
    "moco_cluster_last_partition_updated": "gauge",
}
MOCO_BUCKETS = [0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 30.0]
STS = {"status": {"currentReplicas": 2, "updatedReplicas": 1}}


def families(name: str, namespace: str) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """family -> (type, label sets of its samples) for one cluster."""
    out: dict[str, tuple[str, list[dict[str, str]]]] = {}
    for fam in text_string_to_metric_families(exposition().decode()):
        mine = [
            s.labels
            for s in fam.samples
            if (s.labels.get("name"), s.labels.get("namespace")) == (name, namespace)
        ]
        if mine:
            out[fam.name] = (fam.type, mine)
    return out


def exercise(name: str, ns: str) -> ClusterMetrics:
    m = ClusterMetrics(name, ns)
    m.checked(0.3, failed=False)
    m.observed(healthy(3), ClusterState.HEALTHY)
    m.switched_over(0.5)
    clustermetrics.reconciled(ns, name, stopped=False, sts=STS)
    clustermetrics.volume_resized(ns, name, ok=True)
    clustermetrics.statefulset_recreated(ns, name, ok=False)
    clustermetrics.partition_updated(ns, name)
    return m


def test_every_moco_cluster_metric_with_its_type_and_labels() -> None:
    exercise("db", "ns-all")
    got = families("db", "ns-all")
    for family, kind in MOCO_CLUSTER_METRICS.items():
        assert family in got, f"{family} is not exposed"
        typ, label_sets = got[family]
        assert typ == kind, family
        for labels in label_sets:
            extra = set(labels) - {"name", "namespace", "le"}
            assert not extra, f"{family}: labels beyond MOCO's: {extra}"
    buckets = sorted(
        float(labels["le"])
        for labels in got["moco_cluster_processing_time_seconds"][1]
        if "le" in labels and labels["le"] != "+Inf"
    )
    assert buckets == MOCO_BUCKETS


def test_a_deleted_cluster_leaves_none_of_them() -> None:
    m = exercise("gone", "ns-del")
    assert families("gone", "ns-del")
    m.remove()
    clustermetrics.forget("ns-del", "gone")
    assert families("gone", "ns-del") == {}
