"""Decision table: every state, its precedence, and the operation chosen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from moco.clustering.decide import decide, find_errants
from moco.clustering.types import ClusterState, Decision, Operation, ReplicaView, StatusSet

from .builders import ERRANT_UUID, U, healthy, pod, primary, replica, with_instance, with_pod, with_spec

S = ClusterState
Op = Operation
G = f"{U[0]}:1-10"
ERRANT = f"{U[0]}:1-10,{ERRANT_UUID}:1"


def run(ss: StatusSet) -> Decision:
    errants = find_errants(ss.primary, ss.instances, ss.cluster.errant_replica_list)
    return decide(replace(ss, errants=errants))


def h3() -> StatusSet:
    return healthy(3)


def fresh(n: int) -> StatusSet:
    """Every mysqld just initialised: read-only, no replication, no data."""
    ss = healthy(n, labelled=False)
    for i in range(n):
        ss = with_instance(
            ss, i, replica(i, gtid="").__class__(server_uuid=U[i], read_only=True, super_read_only=True)
        )
    return ss


def restarted(n: int, ready: bool) -> StatusSet:
    """Every instance restarted at once: super_read_only everywhere, replication threads stopped."""
    ss = healthy(n)
    ss = with_instance(ss, 0, primary(n=n, read_only=True, super_read_only=True, replica_server_ids=()))
    for i in range(1, n):
        ss = with_instance(ss, i, replica(i, io=False, sql=False, lag=None))
    if not ready:
        for i in range(n):
            ss = with_pod(ss, i, pod(i, ready=False, role=None))
    return ss


def primary_down(n: int, intact: int, errant_remembered: tuple[int, ...] = ()) -> StatusSet:
    ss = with_pod(healthy(n), 0, pod(0, ready=False, role="primary"))
    ss = with_instance(ss, 0, None)
    for i in range(1 + intact, n):
        ss = with_instance(ss, i, None)
    ss = with_spec(ss, errant_replica_list=errant_remembered)
    return replace(ss, primary_down_confirmed=True)


def promoted(ss: StatusSet, new: int) -> StatusSet:
    """The index moved to ``new``; replicas still point at the old primary."""
    ss = with_spec(ss, current_primary_index=new)
    return with_instance(ss, new, replica(new, read_only=False, super_read_only=False))


def degrade(i: int, **kw: object) -> Callable[[], StatusSet]:
    return lambda: with_instance(h3(), i, replica(i, **kw))  # type: ignore[arg-type]


ROWS: list[tuple[str, Callable[[], StatusSet], ClusterState, Operation, int | None]] = [
    # --- Healthy
    ("healthy-3", h3, S.HEALTHY, Op.NONE, 1),
    ("healthy-1", lambda: healthy(1), S.HEALTHY, Op.NONE, None),
    ("healthy-5", lambda: healthy(5), S.HEALTHY, Op.NONE, 1),
    ("healthy-unlabelled", lambda: healthy(3, labelled=False), S.HEALTHY, Op.CONFIGURE, 1),
    (
        "healthy-semisync-drift",
        lambda: with_instance(h3(), 0, primary(semisync_source_enabled=False)),
        S.HEALTHY,
        Op.CONFIGURE,
        1,
    ),
    (
        "healthy-wait-count-drift",
        lambda: with_instance(healthy(5), 0, primary(n=5, semisync_wait_count=1)),
        S.HEALTHY,
        Op.CONFIGURE,
        1,
    ),
    # a fence left wait_no_replica off (ops.release_until_read_only) on an instance that is the
    # primary again: its commits would fall back to asynchronous when its replicas left
    (
        "healthy-wait-no-replica-off",
        lambda: with_instance(h3(), 0, primary(semisync_wait_no_replica=False)),
        S.HEALTHY,
        Op.CONFIGURE,
        1,
    ),
    # a demote annotation left on a Pod that is no longer primary (a crash after the status
    # write of a switchover) would demote it the day it becomes primary again: removed now
    (
        "healthy-stale-demote-on-replica",
        lambda: with_pod(h3(), 1, pod(1, demote=True, role="replica")),
        S.HEALTHY,
        Op.CONFIGURE,
        1,
    ),
    (
        "healthy-replica-still-semisync-source",
        degrade(2, semisync_source_enabled=True),
        S.HEALTHY,
        Op.CONFIGURE,
        1,
    ),
    (
        "healthy-lag-unchecked",
        lambda: with_spec(degrade(1, lag=999)(), max_delay_seconds=0),
        S.HEALTHY,
        Op.NONE,
        1,
    ),
    (
        "healthy-replica-ahead-in-primary-uuid",
        degrade(1, gtid=f"{U[0]}:1-11"),
        S.HEALTHY,
        Op.NONE,
        1,
    ),
    # --- switchover
    (
        "switch-demote",
        lambda: with_pod(h3(), 0, pod(0, demote=True, role="primary")),
        S.HEALTHY,
        Op.SWITCHOVER,
        1,
    ),
    (
        "switch-deleting",
        lambda: with_pod(h3(), 0, pod(0, deleting=True, role="primary")),
        S.HEALTHY,
        Op.SWITCHOVER,
        1,
    ),
    (
        "switch-skips-errant",
        lambda: with_pod(
            with_instance(h3(), 1, replica(1, gtid=ERRANT)), 0, pod(0, demote=True, role="primary")
        ),
        S.DEGRADED,
        Op.SWITCHOVER,
        2,
    ),
    (
        "switch-skips-lagging",
        lambda: with_pod(degrade(1, lag=500)(), 0, pod(0, demote=True, role="primary")),
        S.DEGRADED,
        Op.SWITCHOVER,
        2,
    ),
    (
        "switch-single-instance-impossible",
        lambda: with_pod(healthy(1), 0, pod(0, demote=True, role="primary")),
        S.HEALTHY,
        Op.NONE,
        None,
    ),
    (
        "switch-not-in-incomplete",
        lambda: with_pod(restarted(3, True), 0, pod(0, demote=True, role="primary")),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    # --- Degraded
    (
        "degraded-replica-pod-not-ready",
        lambda: with_pod(h3(), 2, pod(2, ready=False, role="replica")),
        S.DEGRADED,
        Op.CONFIGURE,
        1,
    ),
    ("degraded-replica-pod-missing", lambda: with_pod(h3(), 2, None), S.DEGRADED, Op.CONFIGURE, 1),
    ("degraded-replica-unreachable", lambda: with_instance(h3(), 2, None), S.DEGRADED, Op.CONFIGURE, 1),
    ("degraded-io-stopped", degrade(1, io=False), S.DEGRADED, Op.CONFIGURE, 2),
    ("degraded-sql-stopped", degrade(2, sql=False), S.DEGRADED, Op.CONFIGURE, 1),
    ("degraded-lagging", degrade(1, lag=61), S.DEGRADED, Op.CONFIGURE, 2),
    ("degraded-lag-unknown", degrade(1, lag=None), S.DEGRADED, Op.CONFIGURE, 2),
    ("degraded-wrong-source", degrade(1, of=2), S.DEGRADED, Op.CONFIGURE, 2),
    (
        "degraded-writable-replica",
        degrade(1, super_read_only=False, read_only=False),
        S.DEGRADED,
        Op.CONFIGURE,
        2,
    ),
    ("degraded-errant-replica", degrade(2, gtid=ERRANT), S.DEGRADED, Op.CONFIGURE, 1),
    (
        "degraded-5-two-down",
        lambda: with_instance(with_instance(healthy(5), 3, None), 4, None),
        S.DEGRADED,
        Op.CONFIGURE,
        1,
    ),
    # --- Incomplete
    ("incomplete-fresh-1", lambda: fresh(1), S.INCOMPLETE, Op.CONFIGURE, None),
    ("incomplete-fresh-3", lambda: fresh(3), S.INCOMPLETE, Op.CONFIGURE, None),
    ("incomplete-fresh-5", lambda: fresh(5), S.INCOMPLETE, Op.CONFIGURE, None),
    ("incomplete-all-restarted", lambda: restarted(3, True), S.INCOMPLETE, Op.CONFIGURE, None),
    ("incomplete-all-restarted-not-ready", lambda: restarted(3, False), S.INCOMPLETE, Op.CONFIGURE, None),
    ("incomplete-all-restarted-5", lambda: restarted(5, True), S.INCOMPLETE, Op.CONFIGURE, None),
    (
        "incomplete-two-errant",
        lambda: with_instance(degrade(1, gtid=ERRANT)(), 2, replica(2, gtid=ERRANT)),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    (
        "incomplete-5-three-down",
        lambda: with_instance(with_instance(with_instance(healthy(5), 2, None), 3, None), 4, None),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    (
        "incomplete-primary-misses-a-replica-connection",
        lambda: with_instance(h3(), 0, primary(replica_server_ids=(2,))),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    (
        "incomplete-foreign-server-ids",
        lambda: with_instance(h3(), 0, primary(replica_server_ids=(100, 101))),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    (
        "incomplete-primary-pod-not-ready-but-answering",
        lambda: with_pod(h3(), 0, pod(0, ready=False, role="primary")),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    (
        "incomplete-primary-read-only",
        lambda: with_instance(h3(), 0, primary(read_only=True)),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    ("incomplete-after-failover", lambda: promoted(h3(), 1), S.INCOMPLETE, Op.CONFIGURE, None),
    # --- Failed
    ("failed-3-primary-killed", lambda: primary_down(3, 2), S.FAILED, Op.FAILOVER, None),
    ("failed-5-three-intact", lambda: primary_down(5, 3), S.FAILED, Op.FAILOVER, None),
    # a missing Pod is no evidence the primary is gone (offline->online, a full restart, a
    # force-rolling-update): nothing is done until the StatefulSet has every Pod again
    (
        "failed-primary-pod-missing-waits",
        lambda: with_pod(primary_down(3, 2), 0, None),
        S.FAILED,
        Op.NONE,
        None,
    ),
    (
        "failed-replica-pod-missing-waits",
        lambda: with_pod(with_instance(primary_down(3, 2), 2, None), 2, None),
        S.LOST,
        Op.NONE,
        None,
    ),
    (
        "failed-5-one-replica-pod-missing-waits",
        lambda: with_pod(with_instance(primary_down(5, 4), 4, None), 4, None),
        S.FAILED,
        Op.NONE,
        None,
    ),
    # one pass that could not reach the primary is no evidence either
    (
        "failed-not-yet-confirmed-waits",
        lambda: replace(primary_down(3, 2), primary_down_confirmed=False),
        S.FAILED,
        Op.NONE,
        None,
    ),
    # a crash of the primary's mysqld container is evidence at once (the loop decides it)
    (
        "failed-crashed-primary-unreachable",
        lambda: replace(primary_down(3, 2), primary_down_confirmed=False, primary_crashed=True),
        S.FAILED,
        Op.FAILOVER,
        None,
    ),
    (
        "failed-crashed-primary-came-back-read-only",
        lambda: replace(
            with_instance(h3(), 0, primary(read_only=True, super_read_only=True, replica_server_ids=())),
            primary_crashed=True,
        ),
        S.FAILED,
        Op.FAILOVER,
        None,
    ),
    (
        "failed-crashed-primary-a-replica-pod-missing-waits",
        lambda: with_pod(with_instance(replace(primary_down(5, 4), primary_crashed=True), 4, None), 4, None),
        S.FAILED,
        Op.NONE,
        None,
    ),
    # a crashed primary that came back read-only, when no replica could take over (a new
    # cluster without a transaction: no replica holds data), is made writable again in place
    # rather than left Lost (MOCO restarts in place here too: it has no crash evidence)
    (
        "crashed-primary-back-read-only-no-replica-with-data-restarts-in-place",
        lambda: replace(
            with_instance(
                with_instance(
                    with_instance(
                        h3(), 0, primary(gtid="", read_only=True, super_read_only=True, replica_server_ids=())
                    ),
                    1,
                    replica(1, gtid=""),
                ),
                2,
                replica(2, gtid=""),
            ),
            primary_crashed=True,
        ),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    # replicas that received the first acknowledged writes (semi-sync) but have not applied
    # them yet hold data: failed over, not Lost and restarted in place (seen in e2e: a SIGKILL
    # 1.3 s after the first writes of a new cluster waited out mysqld's restart, 15.7 s)
    (
        "crashed-primary-down-replicas-received-but-not-applied-fails-over",
        lambda: replace(
            with_instance(
                with_instance(primary_down(3, 2), 1, replica(1, gtid="", retrieved=f"{U[0]}:1-3")),
                2,
                replica(2, gtid="", retrieved=f"{U[0]}:1-3"),
            ),
            primary_crashed=True,
        ),
        S.FAILED,
        Op.FAILOVER,
        None,
    ),
    (
        "crashed-primary-still-down-no-replica-with-data-is-lost",
        lambda: replace(
            with_instance(with_instance(primary_down(3, 2), 1, replica(1, gtid="")), 2, replica(2, gtid="")),
            primary_crashed=True,
        ),
        S.LOST,
        Op.NONE,
        None,
    ),
    (
        "restarted-primary-without-crash-evidence-is-made-writable",
        lambda: with_instance(h3(), 0, primary(read_only=True, super_read_only=True, replica_server_ids=())),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    (
        "failed-primary-lost-data",
        lambda: with_instance(h3(), 0, primary(gtid="", replica_server_ids=())),
        S.FAILED,
        Op.FAILOVER,
        None,
    ),
    (
        "failed-replicas-stopped-still-intact",
        lambda: with_instance(
            with_instance(primary_down(3, 2), 1, replica(1, io=False)), 2, replica(2, io=False)
        ),
        S.FAILED,
        Op.FAILOVER,
        None,
    ),
    ("failed-5-remembered-errant-excluded", lambda: primary_down(5, 4, (1,)), S.FAILED, Op.FAILOVER, None),
    # --- Lost
    ("lost-3-one-intact", lambda: primary_down(3, 1), S.LOST, Op.NONE, None),
    ("lost-5-two-intact", lambda: primary_down(5, 2), S.LOST, Op.NONE, None),
    (
        "lost-crashed-primary-one-intact",
        lambda: replace(primary_down(3, 1), primary_crashed=True),
        S.LOST,
        Op.NONE,
        None,
    ),
    ("lost-1-instance-down", lambda: with_instance(healthy(1), 0, None), S.LOST, Op.NONE, None),
    ("lost-remembered-errant", lambda: primary_down(3, 2, (2,)), S.LOST, Op.NONE, None),
    ("lost-5-two-errant-remembered", lambda: primary_down(5, 4, (1, 2)), S.LOST, Op.NONE, None),
    (
        "lost-replica-without-data",
        lambda: with_instance(primary_down(3, 2), 2, replica(2, gtid="")),
        S.LOST,
        Op.NONE,
        None,
    ),
    (
        "lost-replica-never-replicated",
        lambda: with_instance(primary_down(3, 2), 2, replica(2).__class__(server_uuid=U[2], executed_gtid=G)),
        S.LOST,
        Op.NONE,
        None,
    ),
    # --- Offline, Cloning, Restoring and their precedence
    ("offline", lambda: with_spec(h3(), offline=True), S.OFFLINE, Op.NONE, None),
    ("offline-over-failed", lambda: with_spec(primary_down(3, 2), offline=True), S.OFFLINE, Op.NONE, None),
    (
        "offline-over-cloning",
        lambda: with_spec(fresh(1), offline=True, replication_source_secret="src"),
        S.OFFLINE,
        Op.NONE,
        None,
    ),
    (
        "cloning-start",
        lambda: with_spec(fresh(1), replication_source_secret="src"),
        S.CLONING,
        Op.CLONE,
        None,
    ),
    (
        "cloning-in-progress",
        lambda: with_spec(
            with_instance(fresh(1), 0, primary(n=1, gtid="", clone_state="In Progress")),
            replication_source_secret="src",
        ),
        S.CLONING,
        Op.NONE,
        None,
    ),
    (
        "cloning-failed-retried",
        lambda: with_spec(
            with_instance(fresh(1), 0, primary(n=1, gtid="", clone_state="Failed")),
            replication_source_secret="src",
        ),
        S.CLONING,
        Op.CLONE,
        None,
    ),
    (
        "cloning-primary-unreachable",
        lambda: with_spec(with_instance(fresh(3), 0, None), replication_source_secret="src"),
        S.CLONING,
        Op.NONE,
        None,
    ),
    (
        "cloning-over-restoring",
        lambda: with_spec(fresh(1), replication_source_secret="src", restoring=True),
        S.CLONING,
        Op.CLONE,
        None,
    ),
    (
        "cloned-intermediate-healthy",
        lambda: with_spec(
            with_instance(
                healthy(3, replication_source_secret="src", cloned=True),
                0,
                primary(read_only=True, super_read_only=True),
            ),
        ),
        S.HEALTHY,
        Op.CONFIGURE,  # replicas still run semi-sync, which an intermediate primary does not use
        1,
    ),
    (
        "clone-completed-not-yet-recorded",
        lambda: with_spec(
            with_instance(
                fresh(1), 0, primary(n=1, read_only=True, super_read_only=True, clone_state="Completed")
            ),
            replication_source_secret="src",
        ),
        S.HEALTHY,
        Op.CONFIGURE,
        None,
    ),
    (
        "intermediate-writable-incomplete",
        lambda: with_spec(h3(), replication_source_secret="src", cloned=True),
        S.INCOMPLETE,
        Op.CONFIGURE,
        None,
    ),
    ("restoring", lambda: with_spec(fresh(3), restoring=True), S.RESTORING, Op.NONE, None),
    (
        "restoring-over-failed",
        lambda: with_spec(primary_down(3, 2), restoring=True),
        S.RESTORING,
        Op.NONE,
        None,
    ),
]


@pytest.mark.parametrize(
    ("build", "state", "op", "candidate"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_decision_table(
    build: Callable[[], StatusSet], state: ClusterState, op: Operation, candidate: int | None
) -> None:
    d = run(build())
    assert (d.state, d.operation, d.candidate) == (state, op, candidate)


def test_table_covers_every_state() -> None:
    assert {r[2] for r in ROWS} == set(ClusterState)
    assert len(ROWS) >= 40


def test_errant_replicas_are_never_candidates() -> None:
    ss = with_instance(healthy(5), 1, replica(1, gtid=ERRANT))
    d = run(ss)
    assert 1 not in d.candidates
    assert d.candidates == (2, 3, 4)


def test_healthy_lists_every_replica_as_candidate() -> None:
    assert run(healthy(5)).candidates == (1, 2, 3, 4)


def test_lagging_replica_is_not_healthy_even_when_threads_run() -> None:
    ss = with_instance(h3(), 1, replica(1, lag=120))
    assert run(ss).state is S.DEGRADED
    relaxed = with_spec(ss, max_delay_seconds=200)
    assert run(relaxed).state is S.HEALTHY


def test_replica_source_must_match_host_and_port() -> None:
    inst = replica(1)
    assert inst.replica is not None
    moved = replace(inst, replica=ReplicaView("127.0.0.2", 4000, True, True, G, 0))
    assert run(with_instance(h3(), 1, moved)).state is S.DEGRADED


def test_primary_whose_status_is_unreadable_is_not_failed_over() -> None:
    # the primary answered, but its status could not be read completely: unknown, not gone
    ss = replace(with_instance(h3(), 0, None), unreadable=frozenset({0}))
    d = run(ss)
    assert d.operation is Op.NONE, d
    assert d.state is not S.FAILED
