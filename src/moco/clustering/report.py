"""What the loop writes to MySQLCluster.status after deciding: a pure function of the decision.

Conditions follow MOCO: Initialized is false while Cloning or Restoring; Available is true when
Healthy or Degraded; Healthy only when Healthy; every reason is the state's name. The loop also
owns syncedReplicas (ready Pods), errantReplicas/errantReplicaList and ``cloned`` (set once the
initial clone from an external source is over).
"""

from __future__ import annotations

from moco.clustering.interfaces import (
    COND_AVAILABLE,
    COND_CLUSTERING_ACTIVE,
    COND_HEALTHY,
    COND_INITIALIZED,
    Condition,
    StatusUpdate,
)
from moco.clustering.types import ClusterState, StatusSet

ACTIVE = Condition(COND_CLUSTERING_ACTIVE, True, "ClusteringActive", "clustering is active")
STOPPED = Condition(COND_CLUSTERING_ACTIVE, False, "ClusteringStopped", "clustering is stopped by annotation")


def status_update(ss: StatusSet, state: ClusterState, detail: str = "") -> StatusUpdate:
    """The status fields after a pass that found ``state`` (``detail``: why nothing is done)."""
    name = state.value
    message = f"the current state is {name}" + (f": {detail}" if detail else "")
    initialized = state not in (ClusterState.CLONING, ClusterState.RESTORING)
    available = state in (ClusterState.HEALTHY, ClusterState.DEGRADED)
    healthy = state is ClusterState.HEALTHY
    errants = tuple(sorted(ss.errants))
    cloned = (
        True
        if ss.cluster.replication_source_secret is not None and state is not ClusterState.CLONING
        else None
    )
    return StatusUpdate(
        conditions=(
            Condition(COND_INITIALIZED, initialized, name, message),
            Condition(COND_AVAILABLE, available, name, message),
            Condition(COND_HEALTHY, healthy, name, message),
            ACTIVE,
        ),
        synced_replicas=sum(1 for p in ss.pods if p is not None and p.ready),
        errant_replicas=len(errants),
        errant_replica_list=errants,
        cloned=cloned,
    )


#: Reason of the conditions (and of the Event) when ``currentPrimaryIndex`` names no instance.
INVALID_PRIMARY_INDEX = "InvalidPrimaryIndex"


def invalid_primary_update(index: int, replicas: int) -> StatusUpdate:
    """The status while ``currentPrimaryIndex`` is outside ``[0, replicas)``: nothing is done.

    Reading it as 0 (or anything else) could make a replica writable next to the real primary,
    so the loop refuses to act until a person sets the index right.
    """
    message = f"status.currentPrimaryIndex {index} names no instance of {replicas}; clustering waits"
    return StatusUpdate(
        conditions=(
            Condition(COND_AVAILABLE, False, INVALID_PRIMARY_INDEX, message),
            Condition(COND_HEALTHY, False, INVALID_PRIMARY_INDEX, message),
            ACTIVE,
        )
    )


def stopped_update() -> StatusUpdate:
    """The status while ``moco.cybozu.com/clustering-stopped`` is set."""
    return StatusUpdate(conditions=(STOPPED,))
