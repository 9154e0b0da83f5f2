"""What the loop writes to MySQLCluster.status after deciding: a pure function of the decision.

Conditions follow MOCO: Initialized is false while Cloning or Restoring; Available is true when
Healthy or Degraded; Healthy only when Healthy; every reason is the state's name. The loop also
owns syncedReplicas (ready Pods), errantReplicas/errantReplicaList and ``cloned`` (set once the
initial clone from an external source is over).

Beyond MOCO, ``status.clustering`` (moco's own field) says what the pass decided to do and why
(:func:`next_operation`) and keeps the last switchover or failover (:func:`primary_change`).

Invariant: an update is a function of slowly changing facts only (state, decision, Pods'
readiness, errant replicas, the last primary change), never of GTID sets, lag or clocks, so the
loop's "write only on change" rule keeps a steady cluster at zero status writes per pass
(issue 16: a thousand clusters per operator).
"""

from __future__ import annotations

import datetime
from typing import Literal

from moco.clustering.interfaces import (
    COND_AVAILABLE,
    COND_CLUSTERING_ACTIVE,
    COND_HEALTHY,
    COND_INITIALIZED,
    Condition,
    NextOperation,
    PrimaryChange,
    StatusUpdate,
)
from moco.clustering.types import ClusterState, Decision, Operation, StatusSet

ACTIVE = Condition(COND_CLUSTERING_ACTIVE, True, "ClusteringActive", "clustering is active")
STOPPED = Condition(COND_CLUSTERING_ACTIVE, False, "ClusteringStopped", "clustering is stopped by annotation")


def next_operation(d: Decision) -> NextOperation:
    """``status.clustering``'s account of a decision: the operation (MOCO-style name), the
    switchover's target, and the decision's reason (why nothing is done, for ``none``)."""
    target = d.candidate if d.operation is Operation.SWITCHOVER else None
    return NextOperation(d.operation.value.capitalize(), target, d.reason)


def primary_change(
    operation: Literal["Switchover", "Failover"],
    from_index: int,
    to_index: int,
    unavailable_s: float,
    reason: str,
    now: datetime.datetime,
) -> PrimaryChange:
    """The record of a switchover or failover that completed at ``now``."""
    at = now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return PrimaryChange(operation, at, from_index, to_index, round(max(unavailable_s, 0.0), 3), reason)


def status_update(
    ss: StatusSet,
    state: ClusterState,
    detail: str = "",
    *,
    decision: Decision | None = None,
    last_change: PrimaryChange | None = None,
) -> StatusUpdate:
    """The status fields after a pass that found ``state`` (``detail``: why nothing is done).

    ``decision`` fills ``status.clustering.nextOperation*``; ``last_change`` (the last primary
    change this process made, None to leave the recorded one as it is) its
    ``lastPrimaryChange``.
    """
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
        next_operation=next_operation(decision) if decision is not None else None,
        last_primary_change=last_change,
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
        ),
        next_operation=NextOperation(Operation.NONE.value.capitalize(), None, message),
    )


def stopped_update() -> StatusUpdate:
    """The status while ``moco.cybozu.com/clustering-stopped`` is set: nothing will be done."""
    return StatusUpdate(
        conditions=(STOPPED,),
        next_operation=NextOperation(Operation.NONE.value.capitalize(), None, STOPPED.message),
    )
