"""What one pass writes to MySQLCluster.status (unit tier): the decision's account in
``status.clustering`` and the record of a primary change, and that a steady cluster's update
does not change from pass to pass (so nothing is written)."""

from __future__ import annotations

import datetime

import pytest

from moco.clustering.interfaces import NextOperation, PrimaryChange
from moco.clustering.report import (
    invalid_primary_update,
    next_operation,
    primary_change,
    status_update,
    stopped_update,
)
from moco.clustering.types import ClusterState, Decision, Operation

from .builders import healthy, primary, with_instance

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("decision", "want"),
    [
        (Decision(ClusterState.HEALTHY, Operation.NONE), NextOperation("None", None, "")),
        (
            Decision(ClusterState.HEALTHY, Operation.SWITCHOVER, (1, 2), 1, "primary Pod: demote annotation"),
            NextOperation("Switchover", 1, "primary Pod: demote annotation"),
        ),
        # a failover names no target: the candidate is chosen after the IO threads stop
        (
            Decision(ClusterState.FAILED, Operation.FAILOVER, (1,), 1, "the primary does not answer"),
            NextOperation("Failover", None, "the primary does not answer"),
        ),
        (
            Decision(ClusterState.DEGRADED, Operation.CONFIGURE, reason="degraded"),
            NextOperation("Configure", None, "degraded"),
        ),
        (
            Decision(ClusterState.CLONING, Operation.CLONE, reason="initial clone from the external source"),
            NextOperation("Clone", None, "initial clone from the external source"),
        ),
        (
            Decision(ClusterState.FAILED, Operation.NONE, reason="waiting for confirmation"),
            NextOperation("None", None, "waiting for confirmation"),
        ),
    ],
)
def test_next_operation_names_the_operation_as_the_crd_does(decision: Decision, want: NextOperation) -> None:
    got = next_operation(decision)
    assert got == want
    assert got.operation in ("None", "Configure", "Switchover", "Failover", "Clone")  # the CRD's enum


def test_primary_change_is_recorded_in_utc_with_milliseconds() -> None:
    local = NOW.astimezone(datetime.timezone(datetime.timedelta(hours=9)))
    change = primary_change("Failover", 0, 2, 2.34567, "the primary does not answer", local)
    assert change == PrimaryChange(
        "Failover", "2026-01-02T03:04:05Z", 0, 2, 2.346, "the primary does not answer"
    )
    # a clock step backwards never records a negative time
    assert primary_change("Switchover", 1, 0, -0.5, "", NOW).write_unavailable_s == 0.0


def test_status_update_carries_the_decision_and_the_last_change() -> None:
    ss = healthy()
    d = Decision(ClusterState.HEALTHY, Operation.SWITCHOVER, (1, 2), 1, "primary Pod: demote annotation")
    change = primary_change("Switchover", 2, 0, 0.4, "primary Pod: demote annotation", NOW)
    update = status_update(ss, d.state, decision=d, last_change=change)
    assert update.next_operation == NextOperation("Switchover", 1, "primary Pod: demote annotation")
    assert update.last_primary_change is change
    # without them the fields are left as they are (None), as before
    plain = status_update(ss, ClusterState.HEALTHY)
    assert plain.next_operation is None
    assert plain.last_primary_change is None


def test_a_steady_cluster_gives_the_same_update_whatever_its_gtids() -> None:
    """The update holds no GTID set, lag or time: two passes over a cluster that committed in
    between give equal updates, so the loop writes nothing (its write-on-change rule)."""
    d = Decision(ClusterState.HEALTHY, Operation.NONE)
    change = primary_change("Failover", 1, 0, 1.5, "the primary does not answer", NOW)
    before = healthy()
    after = with_instance(
        before, 0, primary(gtid=before.primary_gtid + ",aaaaaaaa-0000-0000-0000-000000000000:1-99")
    )
    assert before.primary_gtid != after.primary_gtid
    assert status_update(before, d.state, decision=d, last_change=change) == status_update(
        after, d.state, decision=d, last_change=change
    )


def test_stopped_and_invalid_index_say_that_nothing_will_be_done() -> None:
    stopped = stopped_update().next_operation
    assert stopped is not None
    assert (stopped.operation, stopped.target) == ("None", None)
    assert "stopped" in stopped.reason
    invalid = invalid_primary_update(5, 3).next_operation
    assert invalid is not None
    assert invalid.operation == "None"
    assert "currentPrimaryIndex 5" in invalid.reason
