"""``kubectl moco status``: one screen that says what the cluster is, why, and what happened.

Built from what the apiserver holds: the MySQLCluster (spec, annotations, status: the primary,
the conditions whose reason is the decided state and whose message says why, synced and errant
replicas), its Pods (node, role label, readiness, restarts, pending demotion or deletion) and the
Events of the cluster and of its Pods (warnings). The last switchover or failover is the newest
Event with one of MOCO's reasons for them.

What the operator does not publish is shown as ``-`` and named in :attr:`Report.not_published`
(per-instance GTID sets, replication lag and semi-sync state live only in mysqld; the plugin
does not ``kubectl exec`` to fetch them).

:func:`build` is pure (``now`` is passed in); :func:`render` gives the text, :func:`to_json`
the same content as data.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from moco import constants
from moco.api import names
from moco.plugin.actions import ClusterView, Switch

#: MOCO's Event reasons for a change of primary (its pkg/event), newest first wins.
PRIMARY_CHANGE_REASONS: Final = ("SwitchOver", "FailOver", "SwitchOverFailed", "FailOverFailed")
#: How many Events the report shows.
RECENT_EVENTS: Final = 10
#: Condition types in the order MOCO lists them; others follow by name.
CONDITION_ORDER: Final = (
    "Initialized",
    "Available",
    "Healthy",
    "StatefulSetReady",
    "ReconcileSuccess",
    "ReconciliationActive",
    "ClusteringActive",
)
#: What the report would show but the operator does not write anywhere the apiserver serves:
#: per-instance GTID sets, lag and semi-sync state (read by the loop from mysqld), the
#: operation the loop will take next, and the last primary change's source instance and
#: write-unavailable time (the Events say only when and to which instance).
NOT_PUBLISHED: Final = (
    "gtidExecuted",
    "gtidPurged",
    "replicationLagSeconds",
    "semiSync",
    "nextOperation",
    "lastPrimaryChange.from",
    "lastPrimaryChange.writeUnavailableSeconds",
)


@dataclass(frozen=True)
class ConditionRow:
    type: str
    status: str
    reason: str
    message: str
    since: str | None


@dataclass(frozen=True)
class InstanceRow:
    index: int
    pod: str
    #: False when the Pod does not exist (offline, not created yet, being re-created).
    exists: bool
    node: str | None = None
    role: str | None = None
    primary: bool = False
    ready: bool = False
    phase: str | None = None
    restarts: int = 0
    deleting: bool = False
    demote: bool = False
    errant: bool = False
    gtid_executed: str | None = None
    gtid_purged: str | None = None
    replication_lag_seconds: float | None = None
    semi_sync: str | None = None


@dataclass(frozen=True)
class EventRow:
    time: str | None
    type: str
    reason: str
    object: str
    message: str
    count: int


@dataclass(frozen=True)
class Report:
    name: str
    namespace: str
    replicas: int
    offline: bool
    primary_index: int
    #: The decided state: the Healthy condition's reason (``Unknown`` before the first pass).
    state: str
    #: Why: the Healthy condition's message.
    state_message: str
    synced_replicas: int | None
    errant_replicas: tuple[int, ...]
    clustering_stopped: bool
    reconciliation_stopped: bool
    conditions: tuple[ConditionRow, ...]
    instances: tuple[InstanceRow, ...]
    last_primary_change: EventRow | None
    events: tuple[EventRow, ...]
    not_published: tuple[str, ...] = NOT_PUBLISHED


# --- building ------------------------------------------------------------------------------------
def _event_time(ev: Mapping[str, Any]) -> str | None:
    meta = ev.get("metadata") or {}
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if ev.get(key):
            return str(ev[key])
    return str(meta["creationTimestamp"]) if meta.get("creationTimestamp") else None


def _event_row(ev: Mapping[str, Any]) -> EventRow:
    obj = ev.get("involvedObject") or ev.get("regarding") or {}
    return EventRow(
        time=_event_time(ev),
        type=str(ev.get("type", "")),
        reason=str(ev.get("reason", "")),
        object=f"{obj.get('kind', '')}/{obj.get('name', '')}",
        message=str(ev.get("message") or ev.get("note") or "").strip(),
        count=int(ev.get("count") or 1),
    )


def _sort_key(row: EventRow) -> str:
    return row.time or ""


def _instance(
    index: int, pod: Mapping[str, Any] | None, cluster: ClusterView, errants: set[int]
) -> InstanceRow:
    name = names.pod_name(cluster.name, index)
    primary = index == cluster.current_primary_index
    if pod is None:
        return InstanceRow(index=index, pod=name, exists=False, primary=primary, errant=index in errants)
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    restarts = sum(
        int(c.get("restartCount") or 0)
        for c in status.get("containerStatuses") or []
        if c.get("name") == constants.MYSQLD_CONTAINER
    )
    return InstanceRow(
        index=index,
        pod=name,
        exists=True,
        node=(pod.get("spec") or {}).get("nodeName"),
        role=(meta.get("labels") or {}).get(constants.LABEL_ROLE),
        primary=primary,
        ready=conds.get("Ready") == "True",
        phase=status.get("phase"),
        restarts=restarts,
        deleting=bool(meta.get("deletionTimestamp")),
        demote=(meta.get("annotations") or {}).get(constants.ANN_DEMOTE) == "true",
        errant=index in errants,
    )


def build(
    cluster_obj: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
) -> Report:
    """The report of one cluster from its object, its Pods and the Events about it or them."""
    cluster = ClusterView.from_obj(cluster_obj)
    status = cluster_obj.get("status") or {}
    raw_conditions = list(status.get("conditions") or [])
    order = {t: i for i, t in enumerate(CONDITION_ORDER)}
    raw_conditions.sort(key=lambda c: (order.get(c.get("type"), len(order)), str(c.get("type"))))
    conditions = tuple(
        ConditionRow(
            type=str(c.get("type", "")),
            status=str(c.get("status", "")),
            reason=str(c.get("reason", "")),
            message=str(c.get("message", "")),
            since=c.get("lastTransitionTime"),
        )
        for c in raw_conditions
    )
    healthy = next((c for c in conditions if c.type == "Healthy"), None)
    errants = {int(i) for i in status.get("errantReplicaList") or []}
    by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
    instances = tuple(
        _instance(i, by_name.get(names.pod_name(cluster.name, i)), cluster, errants)
        for i in range(cluster.replicas)
    )
    rows = sorted((_event_row(e) for e in events), key=_sort_key, reverse=True)
    last_change = next((r for r in rows if r.reason in PRIMARY_CHANGE_REASONS), None)
    return Report(
        name=cluster.name,
        namespace=cluster.namespace,
        replicas=cluster.replicas,
        offline=cluster.offline,
        primary_index=cluster.current_primary_index,
        state=healthy.reason if healthy else "Unknown",
        state_message=healthy.message if healthy else "the controller has not reported a state yet",
        synced_replicas=status.get("syncedReplicas"),
        errant_replicas=tuple(sorted(errants)),
        clustering_stopped=cluster.stopped(Switch.CLUSTERING),
        reconciliation_stopped=cluster.stopped(Switch.RECONCILIATION),
        conditions=conditions,
        instances=instances,
        last_primary_change=last_change,
        events=tuple(rows[:RECENT_EVENTS]),
    )


# --- output --------------------------------------------------------------------------------------
def _parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=datetime.UTC)


def age(text: str | None, now: datetime.datetime) -> str:
    """kubectl's short age (``45s``, ``3m``, ``5h``, ``2d``), ``-`` when unknown."""
    t = _parse_time(text)
    if t is None:
        return "-"
    s = max(0, int((now - t).total_seconds()))
    if s < 120:
        return f"{s}s"
    if s < 2 * 3600:
        return f"{s // 60}m"
    if s < 2 * 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(r, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _ready(row: InstanceRow) -> str:
    if not row.exists:
        return "absent"
    return "true" if row.ready else "false"


def _notes(row: InstanceRow) -> str:
    notes = []
    if row.primary and row.role != constants.ROLE_PRIMARY:
        notes.append("primary per status")
    if row.demote:
        notes.append("switchover requested")
    if row.deleting:
        notes.append("being deleted")
    if row.exists and row.phase not in (None, "Running"):
        notes.append(str(row.phase))
    return ", ".join(notes)


def render(report: Report, now: datetime.datetime) -> str:
    """The text screen."""
    out: list[str] = []
    synced = _dash(report.synced_replicas)
    out.append(
        f"MySQLCluster {report.namespace}/{report.name}: {report.state}"
        f"  (instances {report.replicas}, primary {report.primary_index}, synced {synced})"
    )
    out.append(f"why: {report.state_message}")
    flags = [
        "offline" if report.offline else "online",
        "clustering " + ("STOPPED" if report.clustering_stopped else "active"),
        "reconciliation " + ("STOPPED" if report.reconciliation_stopped else "active"),
    ]
    out.append(", ".join(flags))
    if report.errant_replicas:
        out.append("errant replicas: " + ", ".join(str(i) for i in report.errant_replicas))
    out.append("")
    out += _table(
        (
            "INDEX",
            "POD",
            "NODE",
            "ROLE",
            "READY",
            "RESTARTS",
            "GTID-EXECUTED",
            "GTID-PURGED",
            "LAG",
            "SEMI-SYNC",
            "ERRANT",
            "NOTES",
        ),
        [
            (
                str(r.index),
                r.pod,
                _dash(r.node),
                r.role or "-",
                _ready(r),
                str(r.restarts) if r.exists else "-",
                _dash(r.gtid_executed),
                _dash(r.gtid_purged),
                _dash(r.replication_lag_seconds),
                _dash(r.semi_sync),
                "yes" if r.errant else "no",
                _notes(r),
            )
            for r in report.instances
        ],
    )
    out.append("")
    if report.conditions:
        out += _table(
            ("CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE"),
            [(c.type, c.status, c.reason, age(c.since, now), c.message) for c in report.conditions],
        )
    else:
        out.append("no conditions yet: the controller has not reconciled this cluster")
    out.append("")
    last = report.last_primary_change
    if last is None:
        out.append("last switchover/failover: none in the retained Events")
    else:
        out.append(f"last switchover/failover: {last.reason} {age(last.time, now)} ago: {last.message}")
    out.append("")
    if report.events:
        out.append("recent events:")
        out += _table(
            ("AGE", "TYPE", "REASON", "OBJECT", "MESSAGE"),
            [(age(e.time, now), e.type, e.reason, e.object, e.message) for e in report.events],
        )
    else:
        out.append("recent events: none")
    out.append("")
    out.append(
        "-: not published by the operator: GTID sets, replication lag and semi-sync state (read by "
        "the controller from mysqld), the next operation, and the source and write-unavailable time "
        "of the last switchover/failover"
    )
    return "\n".join(out) + "\n"


def to_json(report: Report) -> dict[str, Any]:
    """The same content as data (camelCase keys, as Kubernetes objects)."""

    def camel(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {_camel(k): camel(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [camel(v) for v in obj]
        return obj

    data: dict[str, Any] = camel(asdict(report))
    return data


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w.capitalize() for w in rest)
