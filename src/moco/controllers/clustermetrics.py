"""MOCO's ``moco_cluster_*`` metrics that the reconcilers set (the clustering loop sets the
rest: :mod:`moco.clustering.metrics`).

Labels ``name`` and ``namespace`` (the MySQLCluster), families of :mod:`moco.kube.exposition`,
served at ``/metrics``:

=============================================== ======= ===========================================
metric                                          type    set when
=============================================== ======= ===========================================
moco_cluster_reconciliation_stopped             gauge   every reconcile: 1 while the annotation is set
moco_cluster_current_replicas                   gauge   every reconcile: the StatefulSet's currentReplicas
moco_cluster_updated_replicas                   gauge   every reconcile: the StatefulSet's updatedReplicas
moco_cluster_last_partition_updated             gauge   the partition controller lowered it (Unix s)
moco_cluster_volume_resized_total               counter claims grown
moco_cluster_volume_resized_errors_total        counter claims that could not be grown
moco_cluster_statefulset_recreate_total         counter StatefulSets re-created (claim templates changed)
moco_cluster_statefulset_recreate_errors_total  counter re-creations that failed
moco_cluster_partition_update_retries_total     counter partition updates held back by
                                                        ``--partition-update-interval``; label
                                                        ``namespace`` only (MOCO's)
=============================================== ======= ===========================================

:func:`forget` removes a deleted cluster's series (the namespace-wide retries stay).
"""

from __future__ import annotations

import time
from typing import Any, Final

from moco.kube.exposition import Counter, Gauge

_LABELS: Final = ("name", "namespace")
RECONCILIATION_STOPPED: Final = Gauge(
    "moco_cluster_reconciliation_stopped", "Indicates if reconciliation has stopped", _LABELS
)
CURRENT_REPLICAS: Final = Gauge("moco_cluster_current_replicas", "The number of current replicas", _LABELS)
UPDATED_REPLICAS: Final = Gauge("moco_cluster_updated_replicas", "The number of updated replicas", _LABELS)
LAST_PARTITION_UPDATED: Final = Gauge(
    "moco_cluster_last_partition_updated", "The timestamp of the last successful partition update", _LABELS
)
VOLUME_RESIZED: Final = Counter(
    "moco_cluster_volume_resized", "The number of successful volume resizes", _LABELS
)
VOLUME_RESIZED_ERRORS: Final = Counter(
    "moco_cluster_volume_resized_errors", "The number of failed volume resizes", _LABELS
)
STATEFULSET_RECREATE: Final = Counter(
    "moco_cluster_statefulset_recreate", "The number of successful StatefulSet recreates", _LABELS
)
STATEFULSET_RECREATE_ERRORS: Final = Counter(
    "moco_cluster_statefulset_recreate_errors", "The number of failed StatefulSet recreates", _LABELS
)
PARTITION_UPDATE_RETRIES: Final = Counter(
    "moco_cluster_partition_update_retries",
    "The number of partition updates that were retried because of the rate limit",
    ("namespace",),
)
_ALL: Final = (
    RECONCILIATION_STOPPED,
    CURRENT_REPLICAS,
    UPDATED_REPLICAS,
    LAST_PARTITION_UPDATED,
    VOLUME_RESIZED,
    VOLUME_RESIZED_ERRORS,
    STATEFULSET_RECREATE,
    STATEFULSET_RECREATE_ERRORS,
)


def reconciled(namespace: str, name: str, *, stopped: bool, sts: dict[str, Any] | None) -> None:
    """What one reconcile of the cluster saw (its StatefulSet when it has one)."""
    RECONCILIATION_STOPPED.labels(name, namespace).set(1 if stopped else 0)
    for c in (VOLUME_RESIZED, VOLUME_RESIZED_ERRORS, STATEFULSET_RECREATE, STATEFULSET_RECREATE_ERRORS):
        c.labels(name, namespace)  # exposed at 0 from the first reconcile
    if sts is not None:
        status = sts.get("status") or {}
        CURRENT_REPLICAS.labels(name, namespace).set(int(status.get("currentReplicas") or 0))
        UPDATED_REPLICAS.labels(name, namespace).set(int(status.get("updatedReplicas") or 0))


def volume_resized(namespace: str, name: str, *, ok: bool) -> None:
    (VOLUME_RESIZED if ok else VOLUME_RESIZED_ERRORS).labels(name, namespace).inc()


def statefulset_recreated(namespace: str, name: str, *, ok: bool) -> None:
    (STATEFULSET_RECREATE if ok else STATEFULSET_RECREATE_ERRORS).labels(name, namespace).inc()


def partition_updated(namespace: str, name: str) -> None:
    LAST_PARTITION_UPDATED.labels(name, namespace).set(time.time())


def partition_update_retried(namespace: str) -> None:
    PARTITION_UPDATE_RETRIES.labels(namespace).inc()


def forget(namespace: str, name: str) -> None:
    """Remove every series of a deleted cluster (idempotent)."""
    for m in _ALL:
        try:
            m.remove(name, namespace)
        except KeyError:
            pass
