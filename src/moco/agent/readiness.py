"""Liveness and readiness of the local mysqld, decided by a pure function.

Readiness (``/readyz``) follows MOCO's agent, in order:

1. a clone in progress (``performance_schema.clone_status`` says anything but ``Completed``)
   -> not ready;
2. a writable instance (``read_only`` OFF: the primary) -> ready;
3. a read-only instance that is not a replica (no replication channel) -> not ready (the operator
   has not configured it yet);
4. a replica whose IO thread is not ``Yes`` or whose SQL thread is stopped -> not ready;
5. a replica with ``Last_IO_Errno`` or ``Last_SQL_Errno`` -> not ready;
6. ``max_delay`` of zero accepts any lag -> ready;
7. a replica that has not received a transaction yet may be far behind without knowing: it is
   ready when its source's heartbeat arrived less than ``heartbeat_fresh`` ago (a source sends a
   heartbeat only when it has nothing more to send, so the replica holds everything the source
   had then); otherwise it is given a grace period: while its uptime is below
   ``transaction_queueing_wait`` it is not ready (MOCO's rule; a new cluster has no transaction,
   and without the heartbeat each of its replicas waited out the whole grace);
8. a lag (last queued minus last applied original-commit timestamp) at or above ``max_delay``
   -> not ready; otherwise ready.

Liveness (``/healthz``) only asks that mysqld answers a query.
"""

from __future__ import annotations

from dataclasses import dataclass

from moco.mysql.status import CLONE_COMPLETED


@dataclass(frozen=True)
class ReplicaFacts:
    """What readiness needs of ``SHOW REPLICA STATUS``."""

    io_running: str
    sql_running: bool
    last_io_errno: int = 0
    last_sql_errno: int = 0


@dataclass(frozen=True)
class ReadinessFacts:
    """Observed state of the local instance.

    ``lag_s`` is ``None`` when no transaction was queued since the replica started (MySQL reports
    a zero timestamp then). ``heartbeat_age_s`` is how long ago the source's last heartbeat
    arrived, ``None`` when none did (or there is no replication channel).
    """

    clone_state: str | None
    read_only: bool
    replica: ReplicaFacts | None
    lag_s: float | None
    uptime_s: float
    heartbeat_age_s: float | None = None


@dataclass(frozen=True)
class ReadinessPolicy:
    """The agent's thresholds (``--max-delay``, ``--transaction-queueing-wait``), in seconds."""

    max_delay_s: float = 60.0
    transaction_queueing_wait_s: float = 60.0
    #: rule 7: the newest heartbeat that proves a replica holds everything its source had. The
    #: operator sets the heartbeat period to ``moco.mysql.ops.HEARTBEAT_PERIOD_S`` (1 s): three
    #: periods and a probe's slack; an older one says only that the source went quiet.
    heartbeat_fresh_s: float = 5.0


@dataclass(frozen=True)
class Verdict:
    """A probe's answer and why."""

    ready: bool
    reason: str


def decide_readiness(facts: ReadinessFacts, policy: ReadinessPolicy) -> Verdict:
    """Whether the instance should receive traffic (see the module docstring for the rules)."""
    if facts.clone_state is not None and facts.clone_state != CLONE_COMPLETED:
        return Verdict(False, f"cloning (clone state {facts.clone_state})")
    if not facts.read_only:
        return Verdict(True, "writable primary")
    rep = facts.replica
    if rep is None:
        return Verdict(False, "read-only but not replicating: not configured yet")
    if rep.io_running != "Yes" or not rep.sql_running:
        return Verdict(
            False, f"replication threads are not running (io={rep.io_running}, sql={rep.sql_running})"
        )
    if rep.last_io_errno or rep.last_sql_errno:
        return Verdict(
            False, f"replication errors (io errno {rep.last_io_errno}, sql errno {rep.last_sql_errno})"
        )
    if policy.max_delay_s <= 0:
        return Verdict(True, "replica; lag not checked")
    if facts.lag_s is None:
        hb = facts.heartbeat_age_s
        if hb is not None and hb < policy.heartbeat_fresh_s:
            return Verdict(True, f"replica; nothing to apply (source heartbeat {hb:.1f}s ago)")
        if facts.uptime_s < policy.transaction_queueing_wait_s:
            return Verdict(False, f"no transaction received yet (uptime {facts.uptime_s:.0f}s)")
        return Verdict(True, "replica; nothing to apply")
    if facts.lag_s >= policy.max_delay_s:
        return Verdict(False, f"lag {facts.lag_s:.1f}s >= max delay {policy.max_delay_s:.0f}s")
    return Verdict(True, f"replica; lag {facts.lag_s:.1f}s")
