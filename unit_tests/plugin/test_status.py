"""``kubectl moco status``: the report built from objects, its text and its JSON."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from moco import constants
from moco.clustering import interfaces
from moco.plugin import live, status

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def cluster(**status_fields: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "db",
            "namespace": "ns",
            "annotations": {constants.ANN_RECONCILIATION_STOPPED: "true"},
        },
        "spec": {"replicas": 3},
        "status": {
            "currentPrimaryIndex": 1,
            "syncedReplicas": 2,
            "errantReplicaList": [2],
            "conditions": [
                cond("Healthy", "False", "Degraded", "the current state is Degraded"),
                cond("Available", "True", "Degraded", "the current state is Degraded"),
                cond("Initialized", "True", "Degraded", "the current state is Degraded"),
            ],
            **status_fields,
        },
    }


def cond(type_: str, st: str, reason: str, message: str) -> dict[str, str]:
    return {
        "type": type_,
        "status": st,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T11:55:00Z",
    }


def pod(index: int, *, role: str, ready: bool, restarts: int = 0, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": f"moco-db-{index}", "labels": {constants.LABEL_ROLE: role}, **meta},
        "spec": {"nodeName": f"node{index}"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": "mysqld", "restartCount": restarts},
                {"name": "agent", "restartCount": 7},
            ],
        },
    }


def event(
    reason: str, at: str, kind: str = "MySQLCluster", name: str = "db", type_: str = "Normal"
) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": kind, "name": name},
        "type": type_,
        "reason": reason,
        "message": f"{reason} happened",
        "lastTimestamp": at,
        "count": 1,
    }


PODS = [
    pod(0, role="replica", ready=True),
    pod(1, role="primary", ready=True, restarts=2),
    # instance 2 has no Pod
]
EVENTS = [
    event("SwitchOver", "2026-01-01T11:50:00Z"),
    event("ErrantReplicaFenced", "2026-01-01T11:58:00Z", type_="Warning"),
    event("BackOff", "2026-01-01T11:59:30Z", kind="Pod", name="moco-db-2", type_="Warning"),
    event("FailOver", "2026-01-01T10:00:00Z"),
]


CLUSTERING = {
    "nextOperation": "Switchover",
    "nextOperationTarget": 0,
    "nextOperationReason": "primary Pod: demote annotation",
    "lastPrimaryChange": {
        "operation": "Failover",
        "time": "2026-01-01T11:57:00Z",
        "fromIndex": 0,
        "toIndex": 1,
        "writeUnavailableMillis": 2345,
        "reason": "the primary does not answer",
    },
}
UUID0 = "3f2a1b0c-0000-0000-0000-000000000000"
UUID1 = "9d8e7f60-0000-0000-0000-000000000000"


def figures(**kw: Any) -> live.InstanceLive:
    base: dict[str, Any] = {
        "server_uuid": UUID0,
        "gtid_executed": f"{UUID0}:1-1520,{UUID1}:1-3",
        "gtid_purged": "",
        "read_only": True,
        "super_read_only": True,
        "semi_sync_source_enabled": False,
        "semi_sync_source_on": False,
        "semi_sync_source_clients": 0,
        "semi_sync_replica_enabled": True,
        "semi_sync_replica_on": True,
        "replica": live.ReplicaLive("moco-db-1.moco-db.ns.svc", "Yes", "Yes", 4, ""),
    }
    return live.InstanceLive(**(base | kw))


LIVE: dict[int, live.Live] = {
    0: figures(),
    1: figures(
        read_only=False,
        super_read_only=False,
        semi_sync_source_enabled=True,
        semi_sync_source_on=True,
        semi_sync_source_clients=1,
        semi_sync_replica_enabled=False,
        semi_sync_replica_on=False,
        replica=None,
    ),
    2: live.NotRead("Pod is Pending"),
}


def test_build_reads_every_source() -> None:
    r = status.build(cluster(clustering=CLUSTERING), PODS, EVENTS, LIVE)
    assert (r.state, r.state_message) == ("Degraded", "the current state is Degraded")
    assert (r.primary_index, r.synced_replicas, r.errant_replicas) == (1, 2, (2,))
    assert r.reconciliation_stopped
    assert not r.clustering_stopped
    assert [c.type for c in r.conditions] == ["Initialized", "Available", "Healthy"]
    i0, i1, i2 = r.instances
    assert (i0.role, i0.ready, i0.primary, i0.node, i0.errant) == ("replica", True, False, "node0", False)
    assert (i1.role, i1.primary, i1.restarts) == ("primary", True, 2), "only mysqld's restarts count"
    assert (i2.exists, i2.errant, i2.pod) == (False, True, "moco-db-2")
    assert r.next_operation == status.NextOperation("Switchover", 0, "primary Pod: demote annotation")
    assert r.last_primary_change == status.PrimaryChange(
        "Failover", "2026-01-01T11:57:00Z", 0, 1, 2.345, "the primary does not answer"
    )
    assert r.last_primary_change_event is not None
    assert r.last_primary_change_event.reason == "SwitchOver"
    assert [e.reason for e in r.events] == ["BackOff", "ErrantReplicaFenced", "SwitchOver", "FailOver"]
    assert [e.reason for e in r.warnings] == ["BackOff", "ErrantReplicaFenced"]
    assert r.live
    assert (i0.replication, i0.replication_lag_seconds, i0.semi_sync) == ("Yes/Yes", 4, "replica ON")
    assert (i1.read_only, i1.replication, i1.semi_sync) == (False, None, "source ON (1)")
    assert i0.gtid_executed == f"{UUID0}:1-1520,{UUID1}:1-3"
    assert (i2.live_error, i2.gtid_executed) == ("Pod is Pending", None)


def test_without_live_figures_nothing_is_invented() -> None:
    r = status.build(cluster(), PODS, EVENTS)
    assert not r.live
    assert all(i.gtid_executed is None and i.live_error is None for i in r.instances)
    assert (r.next_operation, r.last_primary_change) == (None, None)
    text = status.render(r, NOW)
    assert "not read: --no-live" in text
    assert "next operation: not reported yet" in text
    assert "last switchover/failover (Event): SwitchOver 10m ago: SwitchOver happened" in text


def test_build_before_the_first_pass() -> None:
    obj = {"metadata": {"name": "db", "namespace": "ns"}, "spec": {"replicas": 1}}
    r = status.build(obj, [], [])
    assert (r.state, r.last_primary_change, r.events, r.conditions) == ("Unknown", None, (), ())
    assert "last switchover/failover: none recorded" in status.render(r, NOW)
    assert "not reported" in r.state_message


def test_render_names_what_a_reader_needs() -> None:
    text = status.render(status.build(cluster(clustering=CLUSTERING), PODS, EVENTS, LIVE), NOW)
    lines = text.splitlines()
    assert lines[0] == "MySQLCluster ns/db: Degraded  (instances 3, primary 1, synced 2)"
    assert lines[1] == "why: the current state is Degraded"
    assert lines[2] == "next operation: switchover to instance 0 (primary Pod: demote annotation)"
    assert "reconciliation STOPPED" in lines[3]
    assert "clustering active" in lines[3]
    assert "errant replicas: 2" in text
    assert (
        "last switchover/failover: Failover 3m ago (2026-01-01T11:57:00Z): instance 0 -> 1, "
        "writes unavailable 2.35s (the primary does not answer)" in text
    )
    rows = {line.split()[0]: line for line in lines if line[:1].isdigit() and "moco-db-" in line}
    assert "3f2a1b0c:1-1520,9d8e7f60:1-3" in rows["0"]
    assert " 4s " in rows["0"]
    assert "replica ON" in rows["0"]
    assert "source ON (1)" in rows["1"]
    assert "empty" in rows["1"]  # gtid_purged
    assert "absent" in rows["2"]
    assert "yes" in rows["2"]
    assert "not read: Pod is Pending" in rows["2"]
    warnings = lines.index("recent warnings:")
    events = lines.index("recent events:")
    assert warnings < events
    assert any(line.startswith("30s") and "BackOff" in line for line in lines[warnings:events])
    assert not any("SwitchOver" in line for line in lines[warnings:events])


def test_notes_flag_what_contradicts_the_role() -> None:
    odd = {
        0: figures(
            read_only=False, super_read_only=False, replica=live.ReplicaLive("h", "No", "Yes", None, "boom")
        )
    }
    text = status.render(status.build(cluster(), PODS, EVENTS, odd), NOW)
    row = next(line for line in text.splitlines() if line.startswith("0 "))
    assert "writable" in row
    assert "replication No/Yes" in row
    assert "replication error: boom" in row


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("", "empty"),
        (f"{UUID0}:1-5:7", "3f2a1b0c:1-5:7"),
        (f"{UUID0}:1-5,{UUID1}:1,aaaaaaaa-0000-0000-0000-000000000000:1-2", "3f2a1b0c:1-5,9d8e7f60:1 +1"),
        (f"{UUID0}:1-5:tag:1-2", "3f2a1b0c:1-5,3f2a1b0c:tag:1-2"),
        ("not a gtid set", "not a gtid set"),
    ],
)
def test_gtid_summary(text: str, want: str) -> None:
    assert live.gtid_summary(text) == want


def test_json_is_the_same_content() -> None:
    data = status.to_json(status.build(cluster(clustering=CLUSTERING), PODS, EVENTS, LIVE))
    json.dumps(data)
    assert data["state"] == "Degraded"
    assert data["primaryIndex"] == 1
    assert data["instances"][1]["role"] == "primary"
    assert data["instances"][2]["exists"] is False
    assert data["instances"][2]["liveError"] == "Pod is Pending"
    assert data["instances"][0]["gtidExecuted"] == f"{UUID0}:1-1520,{UUID1}:1-3"  # whole, not summarised
    assert data["instances"][0]["replicationLagSeconds"] == 4
    assert data["instances"][0]["semiSync"] == "replica ON"
    assert data["nextOperation"] == {
        "operation": "Switchover",
        "target": 0,
        "reason": "primary Pod: demote annotation",
    }
    assert data["lastPrimaryChange"]["writeUnavailableSeconds"] == 2.345
    assert (data["lastPrimaryChange"]["fromIndex"], data["lastPrimaryChange"]["toIndex"]) == (0, 1)
    assert data["lastPrimaryChangeEvent"]["reason"] == "SwitchOver"
    assert [w["reason"] for w in data["warnings"]] == ["BackOff", "ErrantReplicaFenced"]


@pytest.mark.parametrize(
    ("at", "want"),
    [
        ("2026-01-01T11:59:15Z", "45s"),
        ("2026-01-01T11:57:00Z", "3m"),
        ("2026-01-01T07:00:00Z", "5h"),
        ("2025-12-29T12:00:00Z", "3d"),
        ("2026-01-01T12:00:05Z", "0s"),
        (None, "-"),
        ("garbage", "-"),
    ],
)
def test_age(at: str | None, want: str) -> None:
    assert status.age(at, NOW) == want


def test_primary_change_reasons_are_the_loops() -> None:
    assert set(status.PRIMARY_CHANGE_REASONS) == {
        interfaces.EV_SWITCHOVER_SUCCEEDED,
        interfaces.EV_FAILOVER_SUCCEEDED,
        interfaces.EV_SWITCHOVER_FAILED,
        interfaces.EV_FAILOVER_FAILED,
    }
