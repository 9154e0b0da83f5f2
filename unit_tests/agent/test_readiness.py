"""The readiness rules as a decision table."""

from __future__ import annotations

import pytest

from moco.agent.readiness import ReadinessFacts, ReadinessPolicy, ReplicaFacts, decide_readiness

POLICY = ReadinessPolicy(max_delay_s=60, transaction_queueing_wait_s=60)
OK_REPLICA = ReplicaFacts(io_running="Yes", sql_running=True)


def facts(
    *,
    clone: str | None = None,
    read_only: bool = True,
    replica: ReplicaFacts | None = OK_REPLICA,
    lag: float | None = 0.0,
    uptime: float = 3600,
    heartbeat: float | None = None,
) -> ReadinessFacts:
    return ReadinessFacts(
        clone_state=clone,
        read_only=read_only,
        replica=replica,
        lag_s=lag,
        uptime_s=uptime,
        heartbeat_age_s=heartbeat,
    )


TABLE = [
    # (case, facts, policy, ready, reason fragment)
    ("primary", facts(read_only=False, replica=None), POLICY, True, "writable"),
    ("primary after a completed clone", facts(clone="Completed", read_only=False), POLICY, True, "writable"),
    ("cloning", facts(clone="In Progress", read_only=False), POLICY, False, "cloning"),
    ("clone not started", facts(clone="Not Started"), POLICY, False, "cloning"),
    ("clone failed", facts(clone="Failed"), POLICY, False, "cloning"),
    ("read-only, no channel", facts(replica=None), POLICY, False, "not configured"),
    ("healthy replica", facts(lag=0.5), POLICY, True, "lag 0.5"),
    ("io connecting", facts(replica=ReplicaFacts("Connecting", True)), POLICY, False, "threads"),
    ("io stopped", facts(replica=ReplicaFacts("No", True)), POLICY, False, "threads"),
    ("sql stopped", facts(replica=ReplicaFacts("Yes", False)), POLICY, False, "threads"),
    ("io error", facts(replica=ReplicaFacts("Yes", True, last_io_errno=2003)), POLICY, False, "errors"),
    ("sql error", facts(replica=ReplicaFacts("Yes", True, last_sql_errno=1062)), POLICY, False, "errors"),
    ("lag at the limit", facts(lag=60.0), POLICY, False, "lag 60.0"),
    ("lag above the limit", facts(lag=3600.0), POLICY, False, "max delay"),
    ("lag below the limit", facts(lag=59.9), POLICY, True, "lag 59.9"),
    ("lag ignored", facts(lag=1e9), ReadinessPolicy(max_delay_s=0), True, "not checked"),
    ("fresh replica in grace", facts(lag=None, uptime=10), POLICY, False, "no transaction"),
    ("fresh replica after grace", facts(lag=None, uptime=61), POLICY, True, "nothing to apply"),
    (
        "fresh replica, source heartbeat",
        facts(lag=None, uptime=2, heartbeat=0.4),
        POLICY,
        True,
        "heartbeat 0.4",
    ),
    (
        "fresh replica, stale heartbeat",
        facts(lag=None, uptime=10, heartbeat=5.0),
        POLICY,
        False,
        "no transaction",
    ),
    (
        "stale heartbeat after grace",
        facts(lag=None, uptime=61, heartbeat=30),
        POLICY,
        True,
        "nothing to apply",
    ),
    ("heartbeat does not hide lag", facts(lag=3600.0, heartbeat=0.1), POLICY, False, "max delay"),
    (
        "heartbeat does not hide errors",
        facts(replica=ReplicaFacts("Yes", True, last_io_errno=2003), lag=None, heartbeat=0.1),
        POLICY,
        False,
        "errors",
    ),
    ("nothing applied yet", facts(lag=float("inf")), POLICY, False, "max delay"),
]


@pytest.mark.parametrize(("case", "f", "policy", "ready", "reason"), TABLE, ids=[t[0] for t in TABLE])
def test_readiness(case: str, f: ReadinessFacts, policy: ReadinessPolicy, ready: bool, reason: str) -> None:
    verdict = decide_readiness(f, policy)
    assert verdict.ready is ready, case
    assert reason in verdict.reason
