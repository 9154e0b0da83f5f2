"""The reconciler's part of MySQLCluster.status: three conditions and ``reconcileInfo``.

The reconciler owns ``ReconcileSuccess``, ``StatefulSetReady``, ``ReconciliationActive`` and
``reconcileInfo``; the clustering loop owns the others (Initialized, Available, Healthy,
ClusteringActive, the primary index, ...). :func:`apply_conditions` changes only the named
conditions of a status dict, so the reconciler's status write never clobbers the loop's; the
write itself is a read-modify-write retried on conflict.

``lastTransitionTime`` changes only when a condition's status changes (metav1.Condition's rule).
:func:`apply_clustering` writes the loop's ``status.clustering`` (moco's own field) the same way.
Pure functions; the clock is a parameter.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, Final

from moco.api.mysqlcluster import (
    CONDITION_RECONCILE_SUCCESS,
    CONDITION_RECONCILIATION_ACTIVE,
    CONDITION_STATEFULSET_READY,
)
from moco.clustering.interfaces import Condition, NextOperation, PrimaryChange
from moco.controllers import reconcileversion

#: The reconcile version of a new or changed cluster (MOCO's ReconcileVersion; the versions and
#: the rule that picks one: :mod:`moco.controllers.reconcileversion`).
RECONCILE_VERSION: Final = reconcileversion.LATEST


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def apply_conditions(
    status: dict[str, Any], conds: Sequence[Condition], generation: int | None, now: str
) -> bool:
    """Set ``conds`` in ``status["conditions"]`` (in place); True when anything changed."""
    current: list[dict[str, Any]] = list(status.get("conditions") or [])
    changed = False
    for c in conds:
        value = "True" if c.status else "False"
        old = next((x for x in current if x.get("type") == c.type), None)
        new = {
            "type": c.type,
            "status": value,
            "reason": c.reason,
            "message": c.message,
            "lastTransitionTime": now
            if old is None or old.get("status") != value
            else old["lastTransitionTime"],
        }
        if generation is not None:
            new["observedGeneration"] = generation
        if old is None:
            current.append(new)
            changed = True
        elif old != new:
            current[current.index(old)] = new
            changed = True
    status["conditions"] = current
    return changed


def statefulset_ready(sts: dict[str, Any] | None) -> Condition:
    """StatefulSetReady: every replica available, one revision, the latest spec observed."""
    if sts is None:
        return Condition(CONDITION_STATEFULSET_READY, False, "StatefulSetNotFound", "StatefulSet not found")
    spec, st = sts.get("spec") or {}, sts.get("status") or {}
    want = spec.get("replicas", 1)
    ready = (
        st.get("availableReplicas", 0) == want
        and st.get("currentRevision") == st.get("updateRevision")
        and (sts.get("metadata") or {}).get("generation") == st.get("observedGeneration")
    )
    if ready:
        return Condition(CONDITION_STATEFULSET_READY, True, "StatefulSetReady", "StatefulSet is ready")
    return Condition(CONDITION_STATEFULSET_READY, False, "StatefulSetNotReady", "StatefulSet is not ready")


def reconcile_success(error: str | None, reason: str = "ReconcileFailed") -> Condition:
    if error is None:
        return Condition(CONDITION_RECONCILE_SUCCESS, True, "ReconcileSuccess", "reconcile successfully")
    return Condition(CONDITION_RECONCILE_SUCCESS, False, reason, error[:1000])


def reconciliation_active(active: bool) -> Condition:
    if active:
        return Condition(
            CONDITION_RECONCILIATION_ACTIVE, True, "ReconciliationActive", "reconciliation is active"
        )
    return Condition(
        CONDITION_RECONCILIATION_ACTIVE,
        False,
        "ReconciliationInactive",
        "reconciliation is stopped by the moco.cybozu.com/reconciliation-stopped annotation",
    )


def set_reconcile_info(status: dict[str, Any], generation: int) -> bool:
    """Record ``generation`` as reconciled, with the version it was reconciled at (an unchanged
    generation keeps its version: :func:`moco.controllers.reconcileversion.recorded`)."""
    info = {"generation": generation, "reconcileVersion": reconcileversion.recorded(status, generation)}
    if status.get("reconcileInfo") == info:
        return False
    status["reconcileInfo"] = info
    return True


def apply_clustering(
    status: dict[str, Any], next_op: NextOperation | None, change: PrimaryChange | None
) -> bool:
    """Set ``status["clustering"]`` (in place) from the loop's report; True when anything changed.

    None leaves that part as it is, so a restarted operator (which has made no primary change
    yet) keeps the recorded ``lastPrimaryChange``.
    """
    before: dict[str, Any] = dict(status.get("clustering") or {})
    after = dict(before)
    if next_op is not None:
        after["nextOperation"] = next_op.operation
        after["nextOperationReason"] = next_op.reason
        if next_op.target is None:
            after.pop("nextOperationTarget", None)
        else:
            after["nextOperationTarget"] = next_op.target
    if change is not None:
        after["lastPrimaryChange"] = {
            "operation": change.operation,
            "time": change.time,
            "fromIndex": change.from_index,
            "toIndex": change.to_index,
            "writeUnavailableMillis": round(change.write_unavailable_s * 1000),
            "reason": change.reason,
        }
    if after == before:
        return False
    status["clustering"] = after
    return True
