"""The figures of ``make e2e-chaos`` (pure, no cluster): the client's write unavailability around
a fault, and the start-up timeline read from Pod objects."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from e2e.chaos import longest_gap, next_utc_clock, placed, runs_of, schedule
from e2e.injectors import INJECTORS
from e2e.timeline import pod_phases


def test_unavailability_is_the_longest_gap_around_the_fault() -> None:
    acked = [1.0, 1.1, 1.2, 5.0, 5.1, 5.2, 9.0]
    # fault at 1.15: from the last ack before it (1.1) on, up to the acks after the primary moved
    assert longest_gap(acked, 1.15, 5.2) == 3.8
    # a graceful stop that still acknowledged a write after the fault was asked for
    assert longest_gap([1.0, 1.1, 1.3, 6.3, 6.4], 1.15, 6.3) == 5.0
    # later gaps (after the cluster was back) do not count
    assert longest_gap(acked, 1.15, 5.0) == 3.8
    assert longest_gap([], 1.0, 2.0) == 0.0


def test_pod_phases_are_seconds_since_the_cluster_was_created() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    pod = {
        "metadata": {"creationTimestamp": "2026-01-01T00:00:06Z"},
        "status": {
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:09Z"},
                {"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-01T00:00:19Z"},
            ],
            "initContainerStatuses": [
                {
                    "name": "moco-init",
                    "state": {
                        "terminated": {
                            "startedAt": "2026-01-01T00:00:11Z",
                            "finishedAt": "2026-01-01T00:00:18Z",
                        }
                    },
                }
            ],
            "containerStatuses": [
                {
                    "name": "mysqld",
                    "state": {"running": {"startedAt": "2026-01-01T00:00:19Z"}},
                    "restartCount": 1,
                }
            ],
        },
    }
    p = pod_phases(pod, t0)
    assert p["created"] == 6.0
    assert p["PodScheduled"] == 9.0
    assert p["Ready"] is None  # not True
    assert p["init moco-init"] == [11.0, 18.0]
    assert p["start mysqld"] == 19.0
    assert p["restarts mysqld"] == 1


def test_where_each_injector_strikes_the_primary() -> None:
    # mysqld faults anywhere; node faults off the leader's node; operator loss on it
    for name in ("mysqld_sigkill", "kill_1"):
        assert placed(INJECTORS[name], on_leader=True)
        assert placed(INJECTORS[name], on_leader=False)
    for name in ("node_loss", "partition", "freeze"):
        assert not placed(INJECTORS[name], on_leader=True)
        assert placed(INJECTORS[name], on_leader=False)
    assert placed(INJECTORS["operator_loss"], on_leader=True)
    assert not placed(INJECTORS["operator_loss"], on_leader=False)


def test_runs_per_injector() -> None:
    assert runs_of(["kill_1", "operator_loss"], 5, ["operator_loss=3"]) == {"kill_1": 5, "operator_loss": 3}
    assert runs_of(["kill_1"], 2, ["operator_loss=3"]) == {"kill_1": 2}  # not selected: ignored
    for bad in ("operator_loss", "nosuch=2", "kill_1=x"):
        with pytest.raises(SystemExit, match="--runs-of"):
            runs_of(["kill_1"], 5, [bad])


def test_schedule_runs_every_injector_once_per_round() -> None:
    assert schedule(["a", "b", "c"], {"a": 2, "b": 1, "c": 2}) == [
        (0, "a"),
        (0, "b"),
        (0, "c"),
        (1, "a"),
        (1, "c"),
    ]
    assert schedule([], {}) == []


def test_until_is_the_next_such_moment() -> None:
    """--until 00:08 given at 23:14 is 54 minutes later (it cut every run short: 23 hours ago)."""
    at = datetime(2026, 12, 1, 23, 14, tzinfo=UTC).timestamp()
    assert next_utc_clock("00:08", at) - at == 54 * 60
    assert next_utc_clock("23:30", at) - at == 16 * 60
    for bad in ("24:00", "7", "ab:cd"):
        with pytest.raises(argparse.ArgumentTypeError, match="--until"):
            next_utc_clock(bad, at)
