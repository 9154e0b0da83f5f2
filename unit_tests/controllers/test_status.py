"""``status.clustering`` as the Kubernetes side writes it (unit tier): the loop's report merged
into the status dict, a restarted operator keeping the recorded primary change, and no change
(hence no write) when the report is the same."""

from __future__ import annotations

from typing import Any

from moco.api.mysqlcluster import MySQLClusterStatus
from moco.clustering.interfaces import NextOperation, PrimaryChange
from moco.controllers.status import apply_clustering

CHANGE = PrimaryChange("Failover", "2026-01-02T03:04:05Z", 0, 2, 1.2344, "the primary does not answer")


def test_report_is_written_in_the_crd_shape() -> None:
    status: dict[str, Any] = {"currentPrimaryIndex": 2}
    assert apply_clustering(status, NextOperation("None", None, ""), CHANGE)
    assert status["clustering"] == {
        "nextOperation": "None",
        "nextOperationReason": "",
        "lastPrimaryChange": {
            "operation": "Failover",
            "time": "2026-01-02T03:04:05Z",
            "fromIndex": 0,
            "toIndex": 2,
            "writeUnavailableMillis": 1234,
            "reason": "the primary does not answer",
        },
    }
    # the API model reads it back (its schema is the CRD's)
    parsed = MySQLClusterStatus.model_validate(status).clustering
    assert parsed is not None
    assert parsed.last_primary_change is not None
    assert parsed.last_primary_change.write_unavailable_millis == 1234


def test_same_report_changes_nothing() -> None:
    status: dict[str, Any] = {}
    apply_clustering(status, NextOperation("Switchover", 1, "primary Pod: demote annotation"), CHANGE)
    assert not apply_clustering(
        status, NextOperation("Switchover", 1, "primary Pod: demote annotation"), CHANGE
    )


def test_none_leaves_the_recorded_change_and_a_target_goes_with_its_operation() -> None:
    status: dict[str, Any] = {}
    apply_clustering(status, NextOperation("Switchover", 1, "primary Pod: demote annotation"), CHANGE)
    # a restarted operator has made no change yet: it reports None and the record stays
    assert apply_clustering(status, NextOperation("None", None, ""), None)
    assert status["clustering"]["lastPrimaryChange"]["toIndex"] == 2
    assert "nextOperationTarget" not in status["clustering"]
    assert status["clustering"]["nextOperation"] == "None"
    # nothing reported at all: nothing changes
    assert not apply_clustering(status, None, None)
