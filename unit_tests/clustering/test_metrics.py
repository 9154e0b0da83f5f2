"""The clustering loop's metrics carry MOCO's names and labels (moco.clustering.metrics)."""

from __future__ import annotations

import math
from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families

from moco.clustering.metrics import PROCESSING_BUCKETS, ClusterMetrics
from moco.clustering.types import ClusterState
from moco.kube.exposition import exposition

from .builders import healthy, pod, with_pod

#: every clustering metric of MOCO's pkg/metrics that the loop sets, as exposed
MOCO_SERIES = [
    "moco_cluster_checks_total",
    "moco_cluster_errors_total",
    "moco_cluster_available",
    "moco_cluster_healthy",
    "moco_cluster_switchover_total",
    "moco_cluster_failover_total",
    "moco_cluster_replicas",
    "moco_cluster_ready_replicas",
    "moco_cluster_errant_replicas",
    "moco_cluster_processing_time_seconds_bucket",
    "moco_cluster_clustering_stopped",
]


def series(name: str, namespace: str) -> dict[str, float]:
    """The samples of one cluster: metric name (+ le / operation) -> value."""
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(exposition().decode()):
        for s in fam.samples:
            if s.labels.get("name") == name and s.labels.get("namespace") == namespace:
                extra = s.labels.get("le") or s.labels.get("operation")
                out[s.name + (f"[{extra}]" if extra else "")] = s.value
    return out


def test_moco_names_and_labels() -> None:
    m = ClusterMetrics("db", "ns-metrics")
    ss = with_pod(healthy(3), 2, replace(pod(2), ready=False))
    m.checked(0.3, failed=False)
    m.checked(12.0, failed=True)
    m.observed(replace(ss, errants=frozenset({1})), ClusterState.DEGRADED)
    m.switched_over(0.4)
    m.failed_over(2.5)
    got = series("db", "ns-metrics")
    for name in MOCO_SERIES:
        assert any(k == name or k.startswith(name + "[") for k in got), f"{name} missing: {sorted(got)}"
    assert got["moco_cluster_checks_total"] == 2
    assert got["moco_cluster_errors_total"] == 1
    assert got["moco_cluster_available"] == 1
    assert got["moco_cluster_healthy"] == 0
    assert got["moco_cluster_replicas"] == 3
    assert got["moco_cluster_ready_replicas"] == 2
    assert got["moco_cluster_errant_replicas"] == 1
    assert got["moco_cluster_switchover_total"] == 1
    assert got["moco_cluster_failover_total"] == 1
    assert got["moco_cluster_clustering_stopped"] == 0
    # MOCO's buckets
    les = sorted(
        float(k.split("[")[1][:-1])
        for k in got
        if k.startswith("moco_cluster_processing_time_seconds_bucket")
    )
    assert les == sorted([*PROCESSING_BUCKETS, math.inf])
    assert got["moco_cluster_write_unavailable_seconds_count[failover]"] == 1
    assert got["moco_cluster_write_unavailable_seconds_sum[switchover]"] == 0.4


def test_stopped_clustering_reads_nan_as_in_moco() -> None:
    m = ClusterMetrics("db", "ns-stopped")
    m.observed(healthy(3), ClusterState.HEALTHY)
    m.stopped()
    got = series("db", "ns-stopped")
    assert got["moco_cluster_clustering_stopped"] == 1
    for name in ("available", "healthy", "ready_replicas", "errant_replicas"):
        assert math.isnan(got[f"moco_cluster_{name}"]), name
    m.observed(healthy(3), ClusterState.HEALTHY)
    assert series("db", "ns-stopped")["moco_cluster_healthy"] == 1


def test_a_deleted_cluster_leaves_no_series() -> None:
    m = ClusterMetrics("db", "ns-deleted")
    m.checked(0.1, failed=False)
    m.observed(healthy(3), ClusterState.HEALTHY)
    m.failed_over(1.0)
    assert series("db", "ns-deleted")
    m.remove()
    assert series("db", "ns-deleted") == {}
    m.remove()  # idempotent
