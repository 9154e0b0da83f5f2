"""The operations one pass may apply: configure, switchover, failover, the initial clone.

Each returns whether the loop should run again at once ("redo"). Invariants:

- the primary is made writable after semi-sync is on and ``replicas // 2`` replicas are pointed
  at it (the others, configured at the same time, may follow: a former primary slow to leave
  semi-sync, a replica whose server hangs), so every commit it acknowledges is in the relay log
  of ``replicas // 2`` replicas (``rpl_semi_sync_source_timeout`` is so long that it never
  falls back to asynchronous); no single replica keeps the primary closed;
- a replica never runs with semi-sync source on: its applier would wait for ACKs;
- the primary Service (no selector) is routed to a new primary in one update right after its
  index is written, before any role label moves (``route_primary``);
- configure moves the role labels first (one PATCH per Pod, the old primary's before the new
  one's: never two Pods labelled primary, and the Services propagate while the pass goes on),
  then fences every other writable instance (kills its clients, super_read_only, releasing
  commits hung on semi-sync acknowledgements) before anything else touches mysqld, so the new
  primary is made writable only when no other instance is; only the semi-sync and source
  changes of a former primary may follow;
- a switchover makes the old primary super_read_only (killing client connections if that takes
  too long) and waits until the target executed everything the old primary did before the
  primary index moves; at no moment are two instances writable;
- a failover stops every replica's IO thread first, so nothing more arrives from a primary
  that may come back, then picks the replica whose received-or-executed GTIDs include every
  other's (errant ones excluded) and waits until it applied what it received;
- errant replicas are fenced: IO thread stopped, role label removed, never promoted;
- a replica whose IO thread makes its first connect to the primary is left alone
  (``decide.first_connect_underway``): a restart would start the connect over; one whose
  connect failed is restarted (to try again before ``SOURCE_CONNECT_RETRY``) at most every
  ``io_restart_every``;
- an empty replica is cloned from the primary before it replicates, as a job beside the loop
  (one at a time, reported by Events, waking the loop at its end) so that no pass, and no
  failover, waits for a clone; a replica is never pointed
  at a primary that purged binary logs it still needs (an Event says so instead);
- every statement runs under the connection's timeouts; every wait has its own bound.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from moco import constants
from moco.clustering.config import ProcessConfig
from moco.clustering.decide import can_catch_up, expected_role, failover_candidates, first_connect_underway
from moco.clustering.errors import NoCandidateError, OperationError
from moco.clustering.gather import Gathered, admin_endpoint, to_view
from moco.clustering.interfaces import (
    EV_CLONE_FAILED,
    EV_CLONE_SUCCEEDED,
    EV_ERRANT_FENCED,
    EV_FAILOVER_FAILED,
    EV_INIT_CLONE_FAILED,
    EV_INIT_CLONE_SUCCEEDED,
    EV_REPLICA_UNRECOVERABLE,
    EV_SET_WRITABLE,
    CloneAgent,
    CloneRequest,
    Credentials,
    EventType,
    KubeSide,
    StatusUpdate,
)
from moco.clustering.sourcetls import replicates_from, source_address
from moco.clustering.types import InstanceView, StatusSet
from moco.mysql import ops
from moco.mysql.conn import Connection, connect
from moco.mysql.errors import MySQLError
from moco.mysql.gtid import GtidSet
from moco.mysql.status import get_replica_status, get_status
from moco.tasks import cancel_and_wait

T = TypeVar("T")


@dataclass
class OpContext:
    """What an operation works with during one pass."""

    kube: KubeSide
    agent: CloneAgent
    creds: Credentials
    cfg: ProcessConfig
    g: Gathered
    log: Any
    #: the target of the switchover / failover just done (for events and tests).
    chosen: int | None = None
    #: keys of warnings already recorded as Events by this loop (shared across passes).
    warned: set[str] = field(default_factory=set)
    #: starts a replica's clone as a task the loop tracks; returns False when one already runs
    #: (None: the clone runs inline, for callers without a loop).
    start_clone: Callable[[int, Callable[[], Awaitable[bool]]], bool] | None = None
    #: indices whose clone runs now: nothing else is done to them meanwhile.
    cloning: frozenset[int] = frozenset()
    #: when (monotonic) each replica's failing IO thread was last restarted (shared across
    #: passes; ``ProcessConfig.io_restart_every``).
    io_restarts: dict[int, float] = field(default_factory=dict)

    @property
    def ss(self) -> StatusSet:
        return self.g.status

    def conn(self, i: int) -> Connection:
        c = self.g.conns.get(i)
        if c is None:
            raise OperationError(f"instance {i} is not reachable", i)
        return c

    async def kube_call(self, coro: Awaitable[T]) -> T:
        async with asyncio.timeout(self.cfg.kube_timeout):
            return await coro

    async def event(self, type_: EventType, reason: str, message: str) -> None:
        self.log.info("event", reason=reason, message=message)
        await self.kube_call(self.kube.record_event(type_, reason, message))


def _semisync_wanted(ss: StatusSet) -> bool:
    return ss.cluster.replication_source_secret is None


# --- configure ------------------------------------------------------------------------------------
async def configure(ctx: OpContext) -> bool:
    """Bring roles, semi-sync, replication and writability in line with the current primary.

    The order is the client's: the primary Service is routed to the primary first (one
    EndpointSlice update, :func:`route_primary`; a no-op when a switchover or failover just did
    it), then the role labels move, one PATCH per Pod (the Pods that lose the primary label
    before the one that gains it: never two Pods labelled primary), so that the Services'
    propagation (EndpointSlice, kube-proxy) runs while the rest of the pass does; then other
    writable instances are fenced, the primary and the replicas configured, and the primary
    opened once enough replicas acknowledge. When no instance is to be fenced, the labels move
    beside the configuration rather than before it (nothing waits for them then).
    """
    ss = ctx.ss
    redo = False
    await route_primary(ctx, ss.primary)
    # Who loses its clients is decided from mysqld's state, not from the label diff (a pass that
    # crashed after moving a label would otherwise never kill): every other instance that is
    # still writable is fenced before the primary opens for writes.
    fence = [i for i in ctx.g.conns if i != ss.primary and not _super_read_only(ss, i)]
    labels: asyncio.Task[list[int]] | None = None
    if fence:
        relabelled = await _move_labels(ctx)
        if any(i in relabelled for i in fence):
            # the Services stop sending it new clients before its clients are killed
            await asyncio.sleep(ctx.cfg.role_change_wait)
        for i in fence:
            await fence_instance(ctx, i)
            redo = True
    else:
        # Nothing to fence (after a switchover or a failover the old primary is read-only or
        # gone): the label and annotation writes run beside the instances' configuration
        # instead of before it, off the way to the primary's opening (two to four API writes,
        # 0.1-0.2 s measured on a switchover).
        labels = asyncio.create_task(_move_labels(ctx))
    try:
        if ss.cluster.replication_source_secret is not None:
            redo |= await _configure_intermediate_primary(ctx)
        else:
            redo |= await _configure_primary(ctx)

        replicas = [
            i
            for i in range(len(ss.instances))
            if i != ss.primary and ss.instances[i] is not None and i not in ctx.cloning
        ]
        redo |= await _configure_replicas_and_open(ctx, replicas)
    except BaseException:
        if labels is not None:
            await cancel_and_wait(labels)
        raise
    if labels is not None:
        await labels
    return redo


async def _move_labels(ctx: OpContext) -> list[int]:
    """Remove stale demote annotations and set the role labels (:func:`_relabel_order`); the
    indices whose Pod lost a role label it had."""
    ss = ctx.ss
    for i, pod in enumerate(ss.pods):
        if pod is not None and pod.demote and i != ss.primary:
            # left by a switchover (removed here, by the pass that opens the new primary, or by
            # the next one when that pass stopped): it would demote this instance the day it
            # becomes primary again
            await ctx.kube_call(ctx.kube.remove_demote_annotation(pod.name))
    relabelled: list[int] = []
    for i in _relabel_order(ss):
        pod = ss.pods[i]
        assert pod is not None
        await ctx.kube_call(ctx.kube.set_role_label(pod.name, expected_role(ss, i)))
        if pod.role is not None:
            relabelled.append(i)
    return relabelled


async def _configure_replicas_and_open(ctx: OpContext, replicas: list[int]) -> bool:
    """Configure every replica at once and open the primary as soon as ``replicas // 2`` of them
    acknowledge (or all are done), so that no single replica holds the primary closed.

    Rules, in order:

    1. every replica is configured in its own task: one whose statements hang (a server stuck in
       STOP REPLICA) costs its own statement timeout, not the others' turn;
    2. the primary opens once ``replicas // 2`` non-errant replicas are configured (the primary
       waits for that many ACKs whoever sends them, so commits stay loss-less), or once every
       replica is done; a former primary, slow to leave semi-sync (about a second while its ACK
       receiver stops), is then simply among the last;
    3. when replicas failed and fewer than ``replicas // 2`` were configured, the primary stays
       closed: its commits could not be acknowledged, and a client is better told "read-only"
       than left waiting; the failures are raised at the end (the pass is retried);
    4. the failures of some replicas are raised after the others and the primary are done.
    """
    ss = ctx.ss
    need = ss.cluster.replicas // 2
    ok: set[int] = set()
    failed: dict[int, Exception] = {}
    settled = asyncio.Event()
    redo = False

    def _acking() -> int:
        return sum(1 for i in ok if i not in ss.errants)

    async def one(i: int) -> None:
        nonlocal redo
        try:
            redo |= await _configure_one(ctx, i)
            ok.add(i)
        except Exception as e:  # kept for the end (rule 4); a cancel goes through
            ctx.log.warning("replica not configured", instance=i, error=str(e))
            failed[i] = e
        finally:
            if _acking() >= need or len(ok) + len(failed) == len(replicas):
                settled.set()

    if not replicas or need == 0:
        settled.set()
    tasks = [asyncio.create_task(one(i)) for i in replicas]
    try:
        await settled.wait()
        if not failed or _acking() >= need:
            redo |= await _open_primary(ctx)
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            await cancel_and_wait(t)
    if failed:
        first = min(failed)
        err = failed[first]
        if len(failed) == 1 or not isinstance(err, OperationError):
            raise err
        others = ", ".join(str(i) for i in sorted(failed) if i != first)
        raise OperationError(f"{err} (replicas {others} failed too)", first)
    return redo


async def _open_primary(ctx: OpContext) -> bool:
    """Make the primary writable if it is not (an external source's intermediate primary never)."""
    ss = ctx.ss
    pst = ss.instances[ss.primary]
    if ss.cluster.replication_source_secret is not None or pst is None or not pst.read_only:
        return False
    # The read clients it served as a replica go (they reconnect through the replica Service),
    # right before it opens: no pause, as a reconnect that still lands here only reads from the
    # primary, and a pause would hold every write for as long.
    await ops.kill_connections(ctx.conn(ss.primary), spare_users=constants.SYSTEM_USERS)
    ctx.log.info("making the primary writable", instance=ss.primary)
    await ops.set_writable(ctx.conn(ss.primary))
    await ctx.event("Normal", EV_SET_WRITABLE, f"instance {ss.primary} is writable")
    return True


async def route_primary(ctx: OpContext, i: int) -> None:
    """Route the primary Service to instance ``i`` (its index is already in the status), in one
    update and before any role label moves: the label writes change the replica Service, and
    kube-proxy would sync whichever change comes second a ``minSyncPeriod`` (1 s) later
    (:mod:`moco.controllers.primaryslice`). A no-op when it routes there already. A failure is
    logged, not raised: the controller routes on the status change too, and nothing else in the
    pass should wait for it."""
    pod = ctx.ss.pods[i]
    if pod is None:
        return
    try:
        await ctx.kube_call(ctx.kube.route_primary(pod.name))
    except Exception as e:  # the controller repairs it; a cancel goes through
        ctx.log.warning("primary Service not routed", instance=i, error=str(e))


def _relabel_order(ss: StatusSet) -> list[int]:
    """Pods whose role label differs from :func:`expected_role`, in the order they are set: a
    Pod gaining the primary label comes last (after the old primary lost it)."""
    out = [i for i, pod in enumerate(ss.pods) if pod is not None and pod.role != expected_role(ss, i)]
    return sorted(out, key=lambda i: expected_role(ss, i) == constants.ROLE_PRIMARY)


def _super_read_only(ss: StatusSet, i: int) -> bool:
    st = ss.instances[i]
    return st is None or st.super_read_only


async def fence_instance(ctx: OpContext, i: int) -> None:
    """Make a non-primary instance super_read_only, killing its clients, whatever holds it back.

    Running writes hold read-only back: the clients are killed first, and again while it waits.
    A former primary may be hung up on commits waiting for semi-sync acknowledgements that no
    replica will send (MOCO issue #813): killed sessions stay in that wait and read-only waits
    behind them. When it still waits after ``fence_release_after``, the server reports such
    sessions and shows our read-only statement waiting, semi-sync is turned off to release them:
    their transactions are already in its binary log (so already counted in ``gtid_executed``
    and judged errant or not alike), and their clients, killed (``KILL CONNECTION`` shuts their
    sockets at once), never saw them acknowledged; the pending read-only request keeps new
    writes out meanwhile. The whole fence is bounded by ``switchover_wait``.
    """
    pod = ctx.ss.pods[i]
    conn = ctx.conn(i)
    cfg = ctx.cfg
    ctx.log.warning("fencing a writable instance that is not the primary", instance=i)
    await ops.kill_connections(conn, spare_users=constants.SYSTEM_USERS)
    ro = asyncio.ensure_future(ops.set_read_only(conn, timeout=cfg.switchover_wait))
    try:
        done, _ = await asyncio.wait({ro}, timeout=cfg.fence_release_after)
        if not done:
            assert pod is not None
            async with await connect(
                admin_endpoint(pod, ctx.creds), timeout=cfg.connect_timeout, query_timeout=cfg.query_timeout
            ) as c2:
                await ops.release_until_read_only(
                    c2, ro, spare_users=constants.SYSTEM_USERS, poll=cfg.fence_release_after
                )
        await ro
    except MySQLError as e:
        raise OperationError(f"failed to fence instance {i}: {e}", i) from e
    finally:
        if not ro.done():
            ro.cancel()


async def _configure_one(ctx: OpContext, i: int) -> bool:
    try:
        return await _configure_replica(ctx, i)
    except MySQLError as e:
        raise OperationError(f"failed to configure replica {i}: {e}", i) from e


async def _configure_intermediate_primary(ctx: OpContext) -> bool:
    ss = ctx.ss
    pst = ss.instances[ss.primary]
    assert pst is not None
    assert ss.cluster.replication_source_secret is not None
    conn = ctx.conn(ss.primary)
    redo = False
    if not pst.super_read_only:
        await ops.set_read_only(conn, super_read_only=True)
        redo = True
    src = await ctx.kube_call(ctx.kube.get_replication_source(ss.cluster.replication_source_secret))
    rs = pst.replica
    if pst.semisync_source_enabled:
        await ops.configure_semisync_source(conn, enabled=False, timeout_ms=ctx.cfg.semisync_timeout_ms)
    if rs is None or not rs.io_running or (rs.source_host, rs.source_port) != (src.host, src.port):
        ctx.log.info("following the external source", instance=ss.primary, source=f"{src.host}:{src.port}")
        await ops.configure_semisync_replica(conn, enabled=False)
        if rs is None or (rs.source_host, rs.source_port) != (src.host, src.port):
            # an external source may not serve TLS (MOCO's behaviour: GET_SOURCE_PUBLIC_KEY)
            await ops.change_source(
                conn, host=src.host, port=src.port, user=src.user, password=src.password, tls=False
            )
        await ops.start_replica(conn)
        redo = True
    return redo


async def _configure_primary(ctx: OpContext) -> bool:
    ss = ctx.ss
    pst = ss.instances[ss.primary]
    assert pst is not None
    conn = ctx.conn(ss.primary)
    redo = False
    rs = pst.replica
    if rs is not None:
        # A former replica (or intermediate primary): apply what it received, then forget the source.
        # The retrieved set is read AFTER the IO thread stopped: what arrived between the gather
        # and the stop must be applied too before replication is reset.
        await ops.stop_io_thread(conn)
        now = await get_replica_status(conn)
        retrieved = now.retrieved_gtid_set if now is not None else None
        if retrieved:
            ctx.log.info("primary applies what it received", instance=ss.primary, gtid=str(retrieved))
            if not await ops.wait_for_gtid(conn, retrieved, timeout=ctx.cfg.failover_wait):
                raise OperationError(f"instance {ss.primary} did not apply {retrieved}", ss.primary)
        await ops.reset_replica_all(conn)
        redo = True
    n = ss.cluster.replicas
    if n > 1:
        want = n // 2
        if (
            not pst.semisync_source_enabled
            or pst.semisync_wait_count != want
            or not pst.semisync_wait_no_replica
        ):
            ctx.log.info("enabling semi-sync on the primary", instance=ss.primary, wait_count=want)
            await ops.configure_semisync_source(
                conn, enabled=True, wait_count=want, timeout_ms=ctx.cfg.semisync_timeout_ms
            )
            redo = True
    elif pst.semisync_source_enabled:
        await ops.configure_semisync_source(conn, enabled=False, timeout_ms=ctx.cfg.semisync_timeout_ms)
        redo = True
    return redo


async def _configure_replica(ctx: OpContext, i: int) -> bool:
    ss = ctx.ss
    st = ss.instances[i]
    assert st is not None
    conn = ctx.conn(i)
    pod = ss.pods[i]
    ppod = ss.pods[ss.primary]
    if i in ss.errants:
        if st.replica is not None and st.replica.io_running:
            ctx.log.warning("fencing errant replica", instance=i)
            await ops.stop_io_thread(conn)
            await ctx.event(
                "Warning", EV_ERRANT_FENCED, f"instance {i} has errant transactions; replication stopped"
            )
            return True
        return False
    redo = False  # a writable replica was fenced at the start of configure
    if st.semisync_source_enabled:
        # a former primary: its applier's commits would wait for acknowledgements nobody sends
        await ops.configure_semisync_source(conn, enabled=False, timeout_ms=ctx.cfg.semisync_timeout_ms)
        redo = True
    if ppod is None or ss.instances[ss.primary] is None:
        return redo
    pst = ss.instances[ss.primary]
    assert pst is not None
    if not st.executed_gtid and pst.executed_gtid and st.replica is None and pod is not None:
        if ctx.start_clone is None:
            await _clone_replica(ctx, i)
            return True
        # the clone runs beside the loop: passes (and a failover) go on meanwhile
        if ctx.start_clone(i, _clone_job(ctx, i)):
            ctx.log.info("clone started in the background", instance=i)
        return False
    if not can_catch_up(st, pst) and not (st.replica is not None and st.replica.io_running):
        msg = f"instance {i} needs transactions the primary already purged; it must be re-created"
        ctx.log.warning("replica cannot catch up", instance=i)
        key = f"{EV_REPLICA_UNRECOVERABLE}/{i}/{st.executed_gtid}"
        if key not in ctx.warned:
            ctx.warned.add(key)
            await ctx.event("Warning", EV_REPLICA_UNRECOVERABLE, msg)
        return redo
    semisync = _semisync_wanted(ss)
    rs = st.replica
    # pointing at the primary over TLS, verified when both serve moco's certificate (a replica
    # configured otherwise is pointed again): moco.clustering.sourcetls
    source = source_address(ppod, pod)
    points = rs is not None and replicates_from(rs, source)
    if (
        rs is not None
        and points
        and rs.io_running
        and rs.sql_running
        and st.semisync_replica_enabled == semisync
    ):
        return redo
    if first_connect_underway(st, ppod, semisync=semisync, replica=pod):
        return redo  # the loop passes again soon (``connecting_recheck``)
    now = time.monotonic()
    if (
        points
        and st.semisync_replica_enabled == semisync
        and rs is not None
        and rs.last_io_errno
        and now - ctx.io_restarts.get(i, -math.inf) < ctx.cfg.io_restart_every
    ):
        return redo  # restarted a moment ago and failed again: not at every pass
    ctx.log.info("pointing replica at the primary", instance=i, primary=ss.primary, semisync=semisync)
    if st.semisync_replica_enabled != semisync:
        await ops.configure_semisync_replica(conn, enabled=semisync)
    if points and rs is not None and not rs.io_running:
        # An IO thread that lost its source (the primary restarted) stays "Connecting" and
        # retries only every SOURCE_CONNECT_RETRY seconds; START REPLICA leaves it so. Restart it
        # to reconnect now (a no-op warning when the thread is stopped).
        await ops.stop_io_thread(conn)
    ctx.io_restarts[i] = now
    if not points:
        await ops.change_source(
            conn,
            host=source.host,
            port=source.port,
            user=constants.REPLICATION_USER,
            password=ctx.creds.replication,
            verify_ca=source.verify_ca,
            verify_name=False,  # by Pod IP, the CA chain checked (moco.clustering.sourcetls)
        )
    await ops.start_replica(conn)
    return True


def _clone_job(ctx: OpContext, i: int) -> Callable[[], Awaitable[bool]]:
    """The clone of replica ``i`` as a job that outlives this pass (events are its report);
    it tells whether the clone succeeded."""

    async def job() -> bool:
        try:
            await _clone_replica(ctx, i)
        except OperationError as e:
            ctx.log.warning("background clone failed", instance=i, error=str(e))
            return False
        return True

    return job


async def _clone_replica(ctx: OpContext, i: int) -> None:
    ss = ctx.ss
    pod, ppod = ss.pods[i], ss.pods[ss.primary]
    assert pod is not None
    assert ppod is not None
    req = CloneRequest(
        donor_host=ppod.host,
        donor_port=ppod.admin_port,
        user=constants.CLONE_DONOR_USER,
        password=ctx.creds.clone_donor,
        init_user=constants.ADMIN_USER,
        init_password=ctx.creds.admin,
        timeout=ctx.cfg.clone_timeout,
    )
    ctx.log.info("cloning an empty replica from the primary", instance=i, primary=ss.primary)
    try:
        await ctx.agent.clone(pod, req)  # bounded by progress, not by a total (see CloneAgent)
    except Exception as e:
        await ctx.event("Warning", EV_CLONE_FAILED, f"clone of instance {i} failed: {e}")
        raise OperationError(f"clone of instance {i} failed: {e}", i) from e
    await ctx.event("Normal", EV_CLONE_SUCCEEDED, f"instance {i} was cloned from instance {ss.primary}")


# --- initial clone from an external source ---------------------------------------------------------
async def clone_from_source(ctx: OpContext) -> bool:
    """Clone the (intermediate) primary from the external source."""
    ss = ctx.ss
    secret = ss.cluster.replication_source_secret
    pod = ss.pods[ss.primary]
    assert secret is not None
    if pod is None:
        return False
    src = await ctx.kube_call(ctx.kube.get_replication_source(secret))
    req = CloneRequest(
        donor_host=src.host,
        donor_port=src.port,
        user=src.clone_user,
        password=src.clone_password,
        init_user=src.init_after_clone_user,
        init_password=src.init_after_clone_password,
        timeout=ctx.cfg.clone_timeout,
    )
    try:
        await ctx.agent.clone(pod, req)  # bounded by progress, not by a total (see CloneAgent)
    except Exception as e:
        await ctx.event("Warning", EV_INIT_CLONE_FAILED, f"clone from {src.host}:{src.port} failed: {e}")
        raise OperationError(f"initial clone failed: {e}", ss.primary) from e
    await ctx.event("Normal", EV_INIT_CLONE_SUCCEEDED, f"cloned from {src.host}:{src.port}")
    return True


# --- switchover ----------------------------------------------------------------------------------
async def _fence_for_switchover(ctx: OpContext, old: int, pconn: Connection) -> None:
    """Make the old primary super_read_only, killing the clients that hold it back.

    Running writes keep ``SET GLOBAL super_read_only`` waiting. The statement gets its own bound
    (``switchover_kill_after + switchover_wait``), not ``query_timeout``: after
    ``switchover_kill_after`` the client connections are killed over a second connection, again
    every second while it still waits (new clients may have come), as MOCO does.
    """
    cfg = ctx.cfg
    bound = cfg.switchover_kill_after + cfg.switchover_wait
    ro = asyncio.ensure_future(ops.set_read_only(pconn, timeout=bound))
    try:
        done, _ = await asyncio.wait({ro}, timeout=cfg.switchover_kill_after)
        if done:
            await ro
            return
        ctx.log.warning("read-only takes long; killing client connections", instance=old)
        ppod = ctx.ss.pods[old]
        assert ppod is not None
        # a second connection: the first is busy waiting for read-only
        async with await connect(
            admin_endpoint(ppod, ctx.creds), timeout=cfg.connect_timeout, query_timeout=cfg.query_timeout
        ) as c2:
            while not ro.done():
                await ops.kill_connections(c2, spare_users=constants.SYSTEM_USERS)
                await asyncio.wait({ro}, timeout=1.0)
        await ro
    finally:
        if not ro.done():
            ro.cancel()


async def switchover(ctx: OpContext, candidate: int) -> None:
    """Move the primary to ``candidate`` without losing or forking anything."""
    ss = ctx.ss
    old = ss.primary
    pconn, cconn = ctx.conn(old), ctx.conn(candidate)
    ctx.log.info("switchover begins", current=old, next=candidate)
    t0 = time.monotonic()
    await _fence_for_switchover(ctx, old, pconn)
    await ops.kill_connections(pconn, spare_users=constants.SYSTEM_USERS)
    pst = await get_status(pconn)
    gtid = pst.gtid_executed
    t_ro = time.monotonic() - t0
    if not await ops.wait_for_gtid(cconn, gtid, timeout=ctx.cfg.switchover_wait):
        raise OperationError(f"instance {candidate} did not catch up with {gtid}", candidate)
    t_caught_up = time.monotonic() - t0
    await ctx.kube_call(ctx.kube.update_status(StatusUpdate(current_primary_index=candidate)))
    ctx.chosen = candidate
    await route_primary(ctx, candidate)
    # the old primary's demote annotation is removed by the configure that opens the new
    # primary (beside it, not before it: see ``configure``)
    ctx.log.info(
        "switchover done",
        primary=candidate,
        read_only_s=round(t_ro, 3),
        caught_up_s=round(t_caught_up, 3),
        total_s=round(time.monotonic() - t0, 3),
    )


# --- failover ------------------------------------------------------------------------------------
async def _apply_received(ctx: OpContext, i: int, retrieved: GtidSet) -> str:
    """Wait until instance ``i`` applied ``retrieved``; ``""`` when it did, else why not.

    The wait is bounded by ``failover_wait`` and watches the applier every second: an SQL error
    (``Last_SQL_Errno``) or a stopped SQL thread ends it at once, so a broken applier never
    holds the cluster without a primary.
    """
    conn = ctx.conn(i)
    deadline = time.monotonic() + ctx.cfg.failover_wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return f"did not apply {retrieved} within {ctx.cfg.failover_wait}s"
        if await ops.wait_for_gtid(conn, retrieved, timeout=min(1.0, left)):
            return ""
        rs = await get_replica_status(conn)
        if rs is None:
            return "it has no replication status"
        if rs.last_sql_errno:
            return f"its applier stopped on error {rs.last_sql_errno}: {rs.last_sql_error}"
        if not rs.sql_running:
            return "its applier (SQL thread) is stopped"


async def failover(ctx: OpContext) -> None:
    """Promote the most advanced intact replica after the primary was lost."""
    ss = ctx.ss
    ctx.log.warning("failover begins", current=ss.primary)
    # a replica being cloned is empty (no candidate) and may restart any moment: left alone
    reachable = [i for i in ctx.g.conns if i != ss.primary and i not in ctx.cloning]

    async def stop_io(i: int) -> None:
        await ops.stop_io_thread(ctx.conn(i))

    results = await asyncio.gather(*(stop_io(i) for i in reachable), return_exceptions=True)
    for i, r in zip(reachable, results, strict=True):
        if isinstance(r, BaseException):
            raise OperationError(f"failed to stop the IO thread of instance {i}: {r}", i)
    await asyncio.sleep(0.1)
    candidates = [i for i in reachable if i not in ss.errants]
    fresh_raw = await asyncio.gather(*(get_status(ctx.conn(i)) for i in candidates))
    fresh: dict[int, InstanceView] = {i: to_view(st) for i, st in zip(candidates, fresh_raw, strict=True)}
    raws = dict(zip(candidates, fresh_raw, strict=True))
    try:
        order = failover_candidates(ss.primary, fresh, ss.errants)
    except NoCandidateError as e:
        raise NoCandidateError(str(e)) from None
    why: dict[int, str] = {}
    chosen: int | None = None
    for i in order:
        rs = raws[i].replica
        retrieved: GtidSet = rs.retrieved_gtid_set if rs is not None else GtidSet.parse("")
        ctx.log.info("waiting for the new primary to apply what it received", index=i, gtid=str(retrieved))
        why[i] = await _apply_received(ctx, i, retrieved)
        if not why[i]:
            chosen = i
            break
        ctx.log.warning("candidate cannot take over", index=i, reason=why[i])
        await ctx.event("Warning", EV_FAILOVER_FAILED, f"instance {i} cannot take over: {why[i]}")
    if chosen is None:
        # the next pass decides again from fresh status (after a short backoff)
        raise OperationError(
            "no candidate applied what it received: " + "; ".join(f"{i}: {w}" for i, w in why.items())
        )
    await ctx.kube_call(ctx.kube.update_status(StatusUpdate(current_primary_index=chosen)))
    ctx.chosen = chosen
    await route_primary(ctx, chosen)
    ctx.log.warning("failover done", primary=chosen)
