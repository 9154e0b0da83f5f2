"""``kubectl moco status``: one screen that says what the cluster is, why, and what happened.

Built from two kinds of source:

* what the apiserver holds, which changes rarely: the MySQLCluster (spec, annotations, status:
  the primary, the conditions whose reason is the decided state and whose message says why,
  synced and errant replicas, and moco's ``status.clustering``: the next operation and the last
  switchover or failover with its write-unavailable time), its Pods (node, role label,
  readiness, restarts, pending demotion or deletion) and the Events of the cluster and of its
  Pods (recent warnings; the last primary change when the status has none recorded);
* what each mysqld says now (:mod:`moco.plugin.live`, read at call time as moco-readonly):
  GTID executed/purged, replication threads and lag, semi-sync state, read-only. These change
  with every commit and are never written to the status (see :mod:`moco.plugin.live`).

:func:`build` is pure (``now`` is passed to :func:`render`); :func:`render` gives the text,
:func:`to_json` the same content as data.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

from moco import constants
from moco.api import names
from moco.plugin.actions import ClusterView, Switch
from moco.plugin.live import Live, NotRead, gtid_summary

#: MOCO's Event reasons for a change of primary (its pkg/event), newest first wins.
PRIMARY_CHANGE_REASONS: Final = ("SwitchOver", "FailOver", "SwitchOverFailed", "FailOverFailed")
#: How many Events (and, separately, warnings) the report shows.
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
    #: In ``status.errantReplicaList`` (the clustering loop's verdict).
    errant: bool = False
    # --- read from mysqld now (None: not read) ---
    server_uuid: str | None = None
    gtid_executed: str | None = None
    gtid_purged: str | None = None
    read_only: bool | None = None
    #: ``Replica_IO_Running/Replica_SQL_Running`` (``Yes/Yes``); None when not a replica.
    replication: str | None = None
    #: ``Seconds_Behind_Source``; None when not a replica or the applier does not run.
    replication_lag_seconds: int | None = None
    replication_error: str | None = None
    semi_sync: str | None = None
    #: Why the figures above could not be read (None when read or not asked).
    live_error: str | None = None


@dataclass(frozen=True)
class EventRow:
    time: str | None
    type: str
    reason: str
    object: str
    message: str
    count: int


@dataclass(frozen=True)
class NextOperation:
    """``status.clustering``: what the loop decided on its last pass."""

    operation: str
    target: int | None
    reason: str


@dataclass(frozen=True)
class PrimaryChange:
    """``status.clustering.lastPrimaryChange``."""

    operation: str
    time: str | None
    from_index: int
    to_index: int
    write_unavailable_seconds: float
    reason: str


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
    next_operation: NextOperation | None
    #: From the status (when, from, to, write-unavailable time), None when none is recorded.
    last_primary_change: PrimaryChange | None
    #: The newest switchover/failover Event (MOCO's reasons), also failed ones.
    last_primary_change_event: EventRow | None
    #: Warning Events of the cluster and its Pods, newest first.
    warnings: tuple[EventRow, ...]
    events: tuple[EventRow, ...]
    #: Whether the instances' figures were asked of mysqld (``--no-live`` says no).
    live: bool


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


def _with_live(row: InstanceRow, got: Live | None) -> InstanceRow:
    if got is None:
        return row
    if isinstance(got, NotRead):
        return replace(row, live_error=got.error)
    rep = got.replica
    return replace(
        row,
        server_uuid=got.server_uuid,
        gtid_executed=got.gtid_executed,
        gtid_purged=got.gtid_purged,
        read_only=got.read_only or got.super_read_only,
        replication=f"{rep.io_running}/{rep.sql_running}" if rep else None,
        replication_lag_seconds=rep.lag_seconds if rep else None,
        replication_error=(rep.last_error or None) if rep else None,
        semi_sync=got.semi_sync,
    )


def _clustering(status: Mapping[str, Any]) -> tuple[NextOperation | None, PrimaryChange | None]:
    own = status.get("clustering") or {}
    nxt = None
    if own.get("nextOperation"):
        target = own.get("nextOperationTarget")
        nxt = NextOperation(
            str(own["nextOperation"]),
            int(target) if target is not None else None,
            str(own.get("nextOperationReason") or ""),
        )
    change = None
    raw = own.get("lastPrimaryChange")
    if raw:
        change = PrimaryChange(
            operation=str(raw.get("operation", "")),
            time=raw.get("time"),
            from_index=int(raw.get("fromIndex", 0)),
            to_index=int(raw.get("toIndex", 0)),
            write_unavailable_seconds=int(raw.get("writeUnavailableMillis") or 0) / 1000,
            reason=str(raw.get("reason") or ""),
        )
    return nxt, change


def build(
    cluster_obj: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    live: Mapping[int, Live] | None = None,
) -> Report:
    """The report of one cluster from its object, its Pods, the Events about it or them and,
    when asked (``live`` not None), what each instance's mysqld said (by index)."""
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
        _with_live(
            _instance(i, by_name.get(names.pod_name(cluster.name, i)), cluster, errants),
            None if live is None else live.get(i),
        )
        for i in range(cluster.replicas)
    )
    rows = sorted((_event_row(e) for e in events), key=_sort_key, reverse=True)
    last_change = next((r for r in rows if r.reason in PRIMARY_CHANGE_REASONS), None)
    next_op, change = _clustering(status)
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
        next_operation=next_op,
        last_primary_change=change,
        last_primary_change_event=last_change,
        warnings=tuple(r for r in rows if r.type == "Warning")[:RECENT_EVENTS],
        events=tuple(rows[:RECENT_EVENTS]),
        live=live is not None,
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
    if row.read_only is not None and row.read_only == row.primary:
        notes.append("writable" if not row.read_only else "read-only")
    if row.replication is not None and row.replication != "Yes/Yes":
        notes.append(f"replication {row.replication}")
    if row.replication_error:
        notes.append(f"replication error: {row.replication_error}")
    if row.live_error:
        notes.append(f"not read: {row.live_error}")
    return ", ".join(notes)


def _lag(row: InstanceRow) -> str:
    if row.replication is None:
        return "-"
    return "-" if row.replication_lag_seconds is None else f"{row.replication_lag_seconds}s"


def _gtids(text: str | None) -> str:
    return "-" if text is None else gtid_summary(text)


def _next_operation(n: NextOperation | None) -> str:
    if n is None:
        return "next operation: not reported yet"
    what = n.operation.lower()
    if n.target is not None:
        what += f" to instance {n.target}"
    return f"next operation: {what}" + (f" ({n.reason})" if n.reason else "")


def _last_change(report: Report, now: datetime.datetime) -> str:
    c = report.last_primary_change
    if c is not None:
        return (
            f"last switchover/failover: {c.operation} {age(c.time, now)} ago ({c.time}): "
            f"instance {c.from_index} -> {c.to_index}, writes unavailable "
            f"{c.write_unavailable_seconds:.2f}s" + (f" ({c.reason})" if c.reason else "")
        )
    ev = report.last_primary_change_event
    if ev is not None:
        return f"last switchover/failover (Event): {ev.reason} {age(ev.time, now)} ago: {ev.message}"
    return "last switchover/failover: none recorded"


def _events(title: str, rows: Sequence[EventRow], now: datetime.datetime) -> list[str]:
    if not rows:
        return [f"{title}: none"]
    return [
        f"{title}:",
        *_table(
            ("AGE", "TYPE", "REASON", "OBJECT", "MESSAGE"),
            [(age(e.time, now), e.type, e.reason, e.object, e.message) for e in rows],
        ),
    ]


def render(report: Report, now: datetime.datetime) -> str:
    """The text screen."""
    out: list[str] = []
    synced = _dash(report.synced_replicas)
    out.append(
        f"MySQLCluster {report.namespace}/{report.name}: {report.state}"
        f"  (instances {report.replicas}, primary {report.primary_index}, synced {synced})"
    )
    out.append(f"why: {report.state_message}")
    out.append(_next_operation(report.next_operation))
    flags = [
        "offline" if report.offline else "online",
        "clustering " + ("STOPPED" if report.clustering_stopped else "active"),
        "reconciliation " + ("STOPPED" if report.reconciliation_stopped else "active"),
    ]
    out.append(", ".join(flags))
    if report.errant_replicas:
        out.append("errant replicas: " + ", ".join(str(i) for i in report.errant_replicas))
    out.append(_last_change(report, now))
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
                _gtids(r.gtid_executed),
                _gtids(r.gtid_purged),
                _lag(r),
                _dash(r.semi_sync),
                "yes" if r.errant else "no",
                _notes(r),
            )
            for r in report.instances
        ],
    )
    if not report.live:
        out.append("(GTID sets, lag and semi-sync not read: --no-live)")
    out.append("")
    if report.conditions:
        out += _table(
            ("CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE"),
            [(c.type, c.status, c.reason, age(c.since, now), c.message) for c in report.conditions],
        )
    else:
        out.append("no conditions yet: the controller has not reconciled this cluster")
    out.append("")
    out += _events("recent warnings", report.warnings, now)
    out.append("")
    out += _events("recent events", report.events, now)
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
