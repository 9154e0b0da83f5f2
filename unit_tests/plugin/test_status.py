"""``kubectl moco status``: the report built from objects, its text and its JSON."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from moco import constants
from moco.clustering import interfaces
from moco.plugin import status

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


def test_build_reads_every_source() -> None:
    r = status.build(cluster(), PODS, EVENTS)
    assert (r.state, r.state_message) == ("Degraded", "the current state is Degraded")
    assert (r.primary_index, r.synced_replicas, r.errant_replicas) == (1, 2, (2,))
    assert r.reconciliation_stopped
    assert not r.clustering_stopped
    assert [c.type for c in r.conditions] == ["Initialized", "Available", "Healthy"]
    i0, i1, i2 = r.instances
    assert (i0.role, i0.ready, i0.primary, i0.node, i0.errant) == ("replica", True, False, "node0", False)
    assert (i1.role, i1.primary, i1.restarts) == ("primary", True, 2), "only mysqld's restarts count"
    assert (i2.exists, i2.errant, i2.pod) == (False, True, "moco-db-2")
    assert r.last_primary_change is not None
    assert r.last_primary_change.reason == "SwitchOver"
    assert [e.reason for e in r.events] == ["BackOff", "ErrantReplicaFenced", "SwitchOver", "FailOver"]


def test_build_before_the_first_pass() -> None:
    obj = {"metadata": {"name": "db", "namespace": "ns"}, "spec": {"replicas": 1}}
    r = status.build(obj, [], [])
    assert (r.state, r.last_primary_change, r.events, r.conditions) == ("Unknown", None, (), ())
    assert "not reported" in r.state_message


def test_render_names_what_a_reader_needs() -> None:
    text = status.render(status.build(cluster(), PODS, EVENTS), NOW)
    lines = text.splitlines()
    assert lines[0] == "MySQLCluster ns/db: Degraded  (instances 3, primary 1, synced 2)"
    assert lines[1] == "why: the current state is Degraded"
    assert "reconciliation STOPPED" in lines[2]
    assert "clustering active" in lines[2]
    assert "errant replicas: 2" in text
    row = next(line for line in lines if line.startswith("2 "))
    assert "absent" in row
    assert "yes" in row
    assert "last switchover/failover: SwitchOver 10m ago: SwitchOver happened" in text
    assert any(line.startswith("30s") and "BackOff" in line for line in lines)
    assert "not published by the operator" in text


def test_json_is_the_same_content() -> None:
    data = status.to_json(status.build(cluster(), PODS, EVENTS))
    json.dumps(data)
    assert data["state"] == "Degraded"
    assert data["primaryIndex"] == 1
    assert data["instances"][1]["role"] == "primary"
    assert data["instances"][2]["exists"] is False
    assert data["lastPrimaryChange"]["reason"] == "SwitchOver"
    assert data["notPublished"][:4] == ["gtidExecuted", "gtidPurged", "replicationLagSeconds", "semiSync"]
    assert "nextOperation" in data["notPublished"]


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
