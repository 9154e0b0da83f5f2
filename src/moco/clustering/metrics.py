"""The clustering loop's Prometheus metrics, with MOCO's names, labels and meaning.

Every series is ``moco_cluster_<name>{name, namespace}`` (MOCO's ``pkg/metrics``), a family of
:mod:`moco.kube.exposition` (its text kept rendered series by series) that the controller serves
at ``/metrics``, so dashboards and alerts written for MOCO read them unchanged:

=========================== ========= =================================================================
metric                      type      set by the loop
=========================== ========= =================================================================
checks_total                counter   every pass
errors_total                counter   every failed pass
processing_time_seconds     histogram every pass's duration (MOCO's buckets)
available / healthy         gauge     1/0 from the decided state; NaN while clustering is stopped
replicas                    gauge     ``spec.replicas``
ready_replicas              gauge     Pods ready; NaN while clustering is stopped
errant_replicas             gauge     replicas with errant transactions; NaN while clustering is stopped
clustering_stopped          gauge     1 while ``moco.cybozu.com/clustering-stopped`` is set, else 0
switchover_total            counter   switchovers that succeeded
failover_total              counter   failovers that succeeded
=========================== ========= =================================================================

Ours, beyond MOCO: ``moco_cluster_write_unavailable_seconds{name, namespace, operation}``, a
histogram of how long no instance accepted writes around each switchover (old primary made
read-only -> new primary writable) and failover (first failed try of the old primary -> new
primary writable), as the loop saw it. Clients see a little more (Service endpoints follow the
role labels).

:meth:`ClusterMetrics.remove` deletes a cluster's series when the cluster is deleted.
"""

from __future__ import annotations

import math
from typing import Final

from moco.clustering.types import ClusterState, StatusSet
from moco.kube.exposition import Counter, Gauge, Histogram

_LABELS: Final = ["name", "namespace"]
#: MOCO's buckets of processing_time_seconds.
PROCESSING_BUCKETS: Final = (0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 30.0)
WRITE_UNAVAILABLE_BUCKETS: Final = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

CHECKS: Final = Counter("moco_cluster_checks", "The number of times MOCO has checked the cluster", _LABELS)
ERRORS: Final = Counter(
    "moco_cluster_errors", "The number of times MOCO has got errors from the cluster", _LABELS
)
AVAILABLE: Final = Gauge("moco_cluster_available", "The cluster status about available condition", _LABELS)
HEALTHY: Final = Gauge("moco_cluster_healthy", "The cluster status about healthy condition", _LABELS)
SWITCHOVERS: Final = Counter(
    "moco_cluster_switchover", "The total count of switchover in the cluster", _LABELS
)
FAILOVERS: Final = Counter("moco_cluster_failover", "The total count of failover in the cluster", _LABELS)
REPLICAS: Final = Gauge("moco_cluster_replicas", "The number of instances in the cluster", _LABELS)
READY_REPLICAS: Final = Gauge(
    "moco_cluster_ready_replicas", "The number of ready Pods in the cluster", _LABELS
)
ERRANT_REPLICAS: Final = Gauge(
    "moco_cluster_errant_replicas", "The number of instances that have errant transactions", _LABELS
)
PROCESSING_TIME: Final = Histogram(
    "moco_cluster_processing_time_seconds",
    "The length of time in seconds processing the cluster",
    _LABELS,
    buckets=PROCESSING_BUCKETS,
)
CLUSTERING_STOPPED: Final = Gauge(
    "moco_cluster_clustering_stopped", "Indicates if clustering has stopped", _LABELS
)
WRITE_UNAVAILABLE: Final = Histogram(
    "moco_cluster_write_unavailable_seconds",
    "How long no instance accepted writes around a switchover or failover, as the operator saw it",
    [*_LABELS, "operation"],
    buckets=WRITE_UNAVAILABLE_BUCKETS,
)

_PER_CLUSTER: Final = (
    CHECKS,
    ERRORS,
    AVAILABLE,
    HEALTHY,
    SWITCHOVERS,
    FAILOVERS,
    REPLICAS,
    READY_REPLICAS,
    ERRANT_REPLICAS,
    PROCESSING_TIME,
    CLUSTERING_STOPPED,
)
OPERATIONS: Final = ("switchover", "failover")


class ClusterMetrics:
    """The series of one MySQLCluster."""

    def __init__(self, name: str, namespace: str) -> None:
        self.labels = (name, namespace)
        # counters are exposed from the start (at 0), so rate() and increase() see the first one
        for c in (CHECKS, ERRORS, SWITCHOVERS, FAILOVERS):
            c.labels(*self.labels)

    def checked(self, seconds: float, *, failed: bool) -> None:
        """One pass that took ``seconds``."""
        CHECKS.labels(*self.labels).inc()
        if failed:
            ERRORS.labels(*self.labels).inc()
        PROCESSING_TIME.labels(*self.labels).observe(seconds)

    def observed(self, ss: StatusSet, state: ClusterState) -> None:
        """What a pass saw and decided."""
        CLUSTERING_STOPPED.labels(*self.labels).set(0)
        AVAILABLE.labels(*self.labels).set(1 if state in (ClusterState.HEALTHY, ClusterState.DEGRADED) else 0)
        HEALTHY.labels(*self.labels).set(1 if state is ClusterState.HEALTHY else 0)
        REPLICAS.labels(*self.labels).set(ss.cluster.replicas)
        READY_REPLICAS.labels(*self.labels).set(sum(1 for p in ss.pods if p is not None and p.ready))
        ERRANT_REPLICAS.labels(*self.labels).set(len(ss.errants))

    def stopped(self) -> None:
        """Clustering is stopped: what it would observe is unknown (MOCO sets NaN)."""
        CLUSTERING_STOPPED.labels(*self.labels).set(1)
        for g in (AVAILABLE, HEALTHY, READY_REPLICAS, ERRANT_REPLICAS):
            g.labels(*self.labels).set(math.nan)

    def switched_over(self, unavailable_s: float) -> None:
        SWITCHOVERS.labels(*self.labels).inc()
        WRITE_UNAVAILABLE.labels(*self.labels, "switchover").observe(unavailable_s)

    def failed_over(self, unavailable_s: float) -> None:
        FAILOVERS.labels(*self.labels).inc()
        WRITE_UNAVAILABLE.labels(*self.labels, "failover").observe(unavailable_s)

    def remove(self) -> None:
        """Delete every series of this cluster (it was deleted)."""
        for m in _PER_CLUSTER:
            try:
                m.remove(*self.labels)
            except KeyError:
                pass
        for op in OPERATIONS:
            try:
                WRITE_UNAVAILABLE.remove(*self.labels, op)
            except KeyError:
                pass
