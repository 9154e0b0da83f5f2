"""Pod deletion protection: the rules of moco.clustering.preventdelete as a table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from moco.clustering.decide import decide
from moco.clustering.preventdelete import (
    SWITCHOVER_HELD,
    annotation_changes,
    hold_switchover,
    lagging_replicas,
    switchover_held,
)
from moco.clustering.types import ClusterState, Decision, Operation, StatusSet

from .builders import healthy, pod, replica, with_instance, with_pod, with_spec


def cluster(bound: int = 60, *lags: int | None, primary: int = 0) -> StatusSet:
    """A Healthy 3-instance cluster whose replicas 1 and 2 report ``lags``."""
    ss = with_spec(healthy(3), max_delay_seconds_for_pod_deletion=bound, current_primary_index=primary)
    for i, lag in zip((1, 2), lags or (0, 0), strict=True):
        ss = with_instance(ss, i, replica(i, lag=lag))
    return ss


def annotated(ss: StatusSet, *indices: int) -> StatusSet:
    for i in indices:
        p = ss.pods[i]
        assert p is not None
        ss = with_pod(ss, i, replace(p, prevent_delete=True))
    return ss


ROWS = [
    # (rule, status set, lagging replicas, annotation changes)
    ("1: a bound of 0 protects nothing", cluster(0, 3600, 0), (), ()),
    ("1: ... and removes what is there", annotated(cluster(0, 3600, 0), 0), (), (("moco-c-0", False),)),
    (
        "2: offline protects nothing",
        with_spec(annotated(cluster(60, 3600, 0), 0), offline=True),
        (),
        (("moco-c-0", False),),
    ),
    ("3: a lag at the bound is allowed", cluster(60, 60, 0), (), ()),
    ("3: a lag above the bound protects the primary", cluster(60, 61, 0), (1,), (("moco-c-0", True),)),
    ("3: an unknown lag does not count", cluster(60, None, 0), (), ()),
    ("3: an unreachable replica does not count", with_instance(cluster(60, 0, 0), 2, None), (), ()),
    ("4: annotated already: nothing to do", annotated(cluster(60, 0, 90), 0), (2,), ()),
    (
        "4: only the primary's Pod: a former primary's annotation goes",
        annotated(with_spec(cluster(60, 0, 90), current_primary_index=0), 1),
        (2,),
        (("moco-c-0", True), ("moco-c-1", False)),
    ),
    (
        "4: a primary Pod being deleted is not annotated",
        with_pod(cluster(60, 0, 90), 0, pod(0, deleting=True, role="primary")),
        (2,),
        (),
    ),
    (
        "4: caught up: removed, also one set by hand",
        annotated(cluster(60, 0, 0), 0, 2),
        (),
        (("moco-c-0", False), ("moco-c-2", False)),
    ),
]


@pytest.mark.parametrize(("rule", "ss", "lagging", "changes"), ROWS, ids=[r[0] for r in ROWS])
def test_rules(
    rule: str, ss: StatusSet, lagging: tuple[int, ...], changes: tuple[tuple[str, bool], ...]
) -> None:
    assert lagging_replicas(ss) == lagging
    assert annotation_changes(ss) == changes


def loop_decision(ss: StatusSet) -> Decision:
    """What the loop decides: moco.clustering.decide, then the hold of rule 5."""
    return hold_switchover(decide(ss), ss)


def test_5_a_demote_switchover_waits_while_protected() -> None:
    # with maxDelaySeconds off the lagging replica is still in sync: the cluster is Healthy
    ss = with_pod(with_spec(cluster(60, 0, 90), max_delay_seconds=0), 0, pod(0, demote=True, role="primary"))
    assert switchover_held(ss)
    assert decide(ss).operation is Operation.SWITCHOVER
    d = loop_decision(ss)
    assert (d.state, d.operation, d.reason) == (ClusterState.HEALTHY, Operation.NONE, SWITCHOVER_HELD)
    # caught up: the switchover goes
    assert loop_decision(with_instance(ss, 2, replica(2, lag=0))).operation is Operation.SWITCHOVER


def test_5_a_degraded_cluster_is_still_configured_while_the_switchover_waits() -> None:
    ss = with_pod(cluster(60, 0, 90), 0, pod(0, demote=True, role="primary"))
    d = loop_decision(ss)
    assert (d.state, d.operation) == (ClusterState.DEGRADED, Operation.CONFIGURE)
    assert SWITCHOVER_HELD in d.reason


def test_5_a_switchover_for_a_primary_pod_being_deleted_goes_on() -> None:
    ss = with_pod(cluster(60, 0, 90), 0, pod(0, deleting=True, role="primary"))
    assert not switchover_held(ss)
    assert loop_decision(ss).operation is Operation.SWITCHOVER
