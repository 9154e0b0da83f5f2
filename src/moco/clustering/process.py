"""One cluster's loop: gather, decide, report, apply one operation, repeat.

A :class:`ClusterProcess` runs as one asyncio task. It wakes on :meth:`ClusterProcess.wake`
(Pod events, reconciles), on its ticker, at once after a pass that acted ("redo"), and soon after
a pass that failed (a bounded exponential backoff, reset by a good pass: a failure in the middle
of a failover is not left to the ticker), every ``failover_recheck`` s while the evidence that
the primary is gone is gathered, and every ``unreachable_recheck`` s while a Pod is there whose
mysqld does not answer (a frozen former primary that wakes up writable is fenced soon). Wake-ups
that arrive during a pass coalesce into one more pass. A pass is bounded by
``ProcessConfig.pass_timeout``, except the initial clone from an external source that a pass
may run (a clone is bounded by its progress, not by its total time); a failing pass is logged
and the loop goes on, so one cluster's trouble never stops its own loop nor delays another's.

A pass that moves the primary (switchover, failover) opens the new one too: it reads the
instances again over its connections and applies the ``configure`` that :func:`decide` gives for
the index it just wrote, instead of leaving it to a next pass that would first wait for a view
of the cluster showing that index (the writes wait meanwhile).

Before it opens the new primary, a failover sends the old one its fence on the connections the
watch kept idle to it (:mod:`moco.clustering.fenceline`): a frozen or cut-off primary finds
``super_read_only`` waiting when it wakes up, instead of answering writable until the next pass.

The clone of an empty replica runs as a task beside the loop (one at a time per cluster; its end
wakes the loop, its Events report it), so passes and a failover go on during a long clone.

While ``moco.cybozu.com/clustering-stopped`` is set the pass only reports ClusteringActive=False.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections.abc import Awaitable, Callable
from contextvars import Token
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from moco import urgency
from moco.clustering import evidence
from moco.clustering import operations as op
from moco.clustering.config import ProcessConfig
from moco.clustering.decide import PRIMARY_UNREACHABLE, WAIT_CONFIRM, decide
from moco.clustering.errors import ClusteringError, GatherError, StaleViewError
from moco.clustering.fenceline import Shots
from moco.clustering.gather import Gathered, admin_endpoint, gather, reread
from moco.clustering.interfaces import (
    EV_CLUSTERING_STOPPED,
    EV_FAILOVER_FAILED,
    EV_FAILOVER_SUCCEEDED,
    EV_SWITCHOVER_FAILED,
    EV_SWITCHOVER_SUCCEEDED,
    CloneAgent,
    Credentials,
    KubeSide,
    PrimaryChange,
    StatusUpdate,
)
from moco.clustering.metrics import ClusterMetrics
from moco.clustering.preventdelete import annotation_changes, hold_switchover
from moco.clustering.report import (
    INVALID_PRIMARY_INDEX,
    invalid_primary_update,
    primary_change,
    status_update,
    stopped_update,
)
from moco.clustering.types import ClusterSpecView, ClusterState, Decision, Operation, StatusSet
from moco.clustering.watch import PrimaryWatch
from moco.log import get_logger
from moco.mysql.errors import MySQLError
from moco.tasks import cancel_and_wait

T = TypeVar("T")


@dataclass
class PassRecord:
    """What the last pass saw and did (for metrics, tests and the benchmark)."""

    decision: Decision | None = None
    #: the number of the pass that made ``decision``.
    decision_pass: int = 0
    chosen: int | None = None
    error: str = ""
    finished_at: float = 0.0
    passes: int = 0
    history: list[tuple[ClusterState, Operation]] = field(default_factory=list)
    #: the primary index each acting pass (operation other than none) worked from, latest last.
    primaries_acted_on: list[int] = field(default_factory=list)


class ClusterProcess:
    """The clustering loop of one MySQLCluster."""

    def __init__(
        self, namespace: str, name: str, kube: KubeSide, agent: CloneAgent, cfg: ProcessConfig | None = None
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.kube = kube
        self.agent = agent
        self.cfg = cfg or ProcessConfig()
        self.last = PassRecord()
        self._wake = asyncio.Event()
        self._origin = "start"
        self._task: asyncio.Task[None] | None = None
        self._last_status: StatusUpdate | None = None
        #: the last switchover/failover this process made (status.clustering.lastPrimaryChange).
        self._last_change: PrimaryChange | None = None
        self._stopped_reported = False
        self._warned: set[str] = set()
        self._io_restarts: dict[int, float] = {}
        #: the primary index this process last wrote, until a view of the cluster shows it.
        self._written_primary: int | None = None
        #: the next pass reads the cluster from the API server, not the cache: after a pass
        #: whose cached view turned out old before it acted. (A pass that only reports never
        #: writes currentPrimaryIndex, so a view a few milliseconds old costs at most conditions
        #: that the next pass corrects; every operation is decided on a fresh view.)
        self._read_fresh = False
        #: the clone of a replica running beside the loop (one at a time) and its index.
        self._clone: asyncio.Task[None] | None = None
        self._clone_index: int | None = None
        #: replicas whose last clones failed: (failures in a row, monotonic time of the next try).
        self._clone_retry: dict[int, tuple[int, float]] = {}
        self._clone_wake: asyncio.TimerHandle | None = None
        #: the failed tries of the primary (passes and the watch) while it does not answer.
        self._down: evidence.DownTally | None = None
        #: instances whose Pod is there but whose mysqld did not answer the last pass.
        self._silent: frozenset[int] = frozenset()
        #: no pass has read the instances yet (a new process: the operator started or took the
        #: lead): none is known to answer, so each gets the short tries of a silent one first.
        self._unheard = True
        #: (primary index, Pod name, Pod uid, mysqld restartCount) when the primary was last
        #: seen writable with its mysqld container running.
        self._writable: tuple[int, str, str, int] | None = None
        #: the running pass's ``pass_timeout``, lifted for the initial clone (see run_once).
        self._pass_bound: asyncio.Timeout | None = None
        self.log = get_logger("moco.clustering", cluster=name, namespace=namespace)
        self.watch = PrimaryWatch(self.cfg, self._on_watch, cluster=name, namespace=namespace)
        #: fences sent to former primaries at their failover (moco.clustering.fenceline).
        self.fences = Shots(lambda: self.wake("fenced"), self.log)
        self.metrics = ClusterMetrics(name, namespace)

    # --- task control ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the loop task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"clustering:{self.namespace}/{self.name}")
        self.watch.start()

    def wake(self, origin: str = "event") -> None:
        """Ask for a pass as soon as possible."""
        self._origin = origin
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop (and a clone it runs, and the watch) and wait for them to end."""
        await self.watch.stop()
        await self.fences.stop()
        if self._clone_wake is not None:
            self._clone_wake.cancel()
        clone, self._clone = self._clone, None
        if clone is not None:
            await cancel_and_wait(clone)
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    @property
    def running(self) -> bool:
        """True while the loop task runs."""
        return self._task is not None and not self._task.done()

    async def run(self) -> None:
        """Loop until cancelled."""
        self.log.info("clustering loop starts")
        self._wake.set()
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry_delay(failures)):
                    await self._wake.wait()
            origin, self._origin = self._origin, "interval" if failures == 0 else "retry"
            self._wake.clear()
            redo = await self.run_once(origin)
            failures = failed_in_a_row(failures, failed=bool(self.last.error), origin=origin)
            if redo:
                self.wake("redo")

    def retry_delay(self, failures: int) -> float:
        """How long the loop waits for a wake-up after ``failures`` failed passes in a row.

        A failed pass is retried after ``retry_min`` s, doubling up to ``retry_max`` (never
        beyond the ticker ``interval``); a good pass resets it to the ticker.
        """
        if failures <= 0:
            return self.cfg.interval
        backoff: float = self.cfg.retry_min * 2.0 ** (failures - 1)
        return min(backoff, self.cfg.retry_max, self.cfg.interval)

    # --- one pass ----------------------------------------------------------------------------------
    async def run_once(self, origin: str = "manual") -> bool:
        """One pass; returns True when it acted and another pass should follow at once."""
        started = time.monotonic()
        self.last.passes += 1
        log = self.log.bind(origin=origin, passno=self.last.passes)
        try:
            async with asyncio.timeout(self.cfg.pass_timeout) as bound:
                self._pass_bound = bound
                redo = await self._pass(log)
            self.last.error = ""
            return redo
        except asyncio.CancelledError:
            raise
        except (ClusteringError, MySQLError, TimeoutError, OSError) as e:
            self.last.error = f"{type(e).__name__}: {e}"
            log.warning("pass failed", error=self.last.error, duration=round(time.monotonic() - started, 3))
            return False
        except Exception as e:  # a bug or an unexpected error of the Kubernetes side
            self.last.error = f"{type(e).__name__}: {e}"
            log.exception("pass failed unexpectedly")
            return False
        finally:
            self._pass_bound = None
            self.last.finished_at = time.monotonic()
            self.metrics.checked(self.last.finished_at - started, failed=bool(self.last.error))

    async def _kube(self, coro: Awaitable[T]) -> T:
        async with asyncio.timeout(self.cfg.kube_timeout):
            return await coro

    async def _report(self, update: StatusUpdate) -> None:
        if update != self._last_status:
            await self._kube(self.kube.update_status(update))
            self._last_status = update

    async def _fresh_cluster(self, log: Any, *, fresh: bool = False) -> ClusterSpecView | None:
        """The cluster, never older than the last primary index this process wrote.

        A view (an informer cache, a lagging read) may still carry the index from before this
        process's own switchover or failover; acting on it would make the old primary writable
        again. Such a view is read again for up to ``kube_timeout``; then the pass fails (and is
        retried). Once a view shows the written index, views are trusted again, so an index
        changed by hand later is followed.
        """
        deadline = time.monotonic() + self.cfg.kube_timeout
        while True:
            cluster = await self._kube(self.kube.get_cluster(fresh=fresh))
            written = self._written_primary
            if cluster is None or written is None:
                return cluster
            if cluster.current_primary_index == written:
                self._written_primary = None
                return cluster
            if time.monotonic() >= deadline:
                raise StaleViewError(
                    f"the cluster view says primary {cluster.current_primary_index}, "
                    f"this process wrote {written}"
                )
            log.info(
                "cluster view is older than the last write",
                seen=cluster.current_primary_index,
                written=written,
            )
            await asyncio.sleep(self.cfg.stale_view_retry)

    async def _view_holds(self, cached: ClusterSpecView, log: Any) -> bool:
        """Whether the API server still has the cluster as the cached view showed it (read
        before acting on a cached view: another process may have written since)."""
        now = await self._kube(self.kube.get_cluster(fresh=True))
        if now == cached:
            return True
        log.info(
            "the cached cluster view was old: deciding again on a fresh one",
            cached_primary=cached.current_primary_index,
            primary=None if now is None else now.current_primary_index,
        )
        return False

    def _primary_down(self, ss: StatusSet, tried_at: float, tries: int) -> bool:
        """Whether the evidence that the primary is gone is complete (:mod:`.evidence`).

        The pass's ``tries`` add to the watch's; an answer, an unreadable status, a missing Pod
        or another primary index starts over.
        """
        p = ss.primary
        failed = ss.pods[p] is not None and ss.instances[p] is None and p not in ss.unreadable
        if not failed:
            self._down = None
            return False
        self._down = evidence.count_failure(self._down, p, tried_at, tries=tries, refused=p in ss.refused)
        return evidence.confirmed(self._down, p, time.monotonic(), self.cfg)

    def _on_watch(self, index: int, at: float, answered: bool, refused: bool) -> None:
        """One try of the primary watch: an answer clears the evidence, a failure adds to it
        and wakes the loop."""
        if answered:
            if self._down is not None and self._down.index == index:
                self._down = None
            return
        self._down = evidence.count_failure(self._down, index, at, refused=refused)
        self.wake("watch")

    def _follow_writable_primary(self, ss: StatusSet, creds: Credentials) -> None:
        """Point the watch at the primary when this pass saw it writable (watch rule 1)."""
        p = ss.primary
        pod, ist = ss.pods[p], ss.instances[p]
        if pod is not None and ist is not None and not ist.read_only and not ist.super_read_only:
            self.watch.follow(p, admin_endpoint(pod, creds))
        elif self.watch.target is not None and self.watch.target.index != p:
            self.watch.forget()

    def _primary_crashed(self, ss: StatusSet) -> bool:
        """Whether the primary's mysqld crashed since the loop last saw it writable.

        ``kill 1`` in the mysqld container (or an OOM kill, a liveness probe) ends mysqld;
        kubelet starts the container again, and mysqld answers super_read_only, often sooner
        than ``failover_after``. The same Pod (same uid) whose mysqld container restarted or is
        not running, with a primary that is unreachable or not writable, is complete evidence
        at once. A missing Pod keeps what was remembered; a Pod being deleted (a rolling update,
        offline), a re-created Pod (another uid) or a not-ready Pod whose container did not
        restart is no evidence. An unreadable primary is
        unknown, not crashed. A primary that follows an external source is never writable, so
        this evidence does not apply to it (the tries over time do).

        While the cluster is Restoring the restore Job, not the loop, makes the primary writable
        and may restart its mysqld (a restore that copies data files does): nothing is
        remembered then, so the restored primary read-only after a restart is no crash.
        """
        p = ss.primary
        pod, ist = ss.pods[p], ss.instances[p]
        if ss.cluster.restoring:
            self._writable = None
            return False
        if pod is None or pod.deleting:
            return False  # a Pod being deleted stops its containers: no crash
        if ist is not None and not ist.read_only and not ist.super_read_only and pod.mysqld_running:
            self._writable = (p, pod.name, pod.uid, pod.mysqld_restarts)
            return False
        seen = self._writable
        if seen is None or seen[:3] != (p, pod.name, pod.uid):
            return False
        if pod.mysqld_restarts <= seen[3] and pod.mysqld_running:
            return False
        if ist is None:
            return p not in ss.unreadable
        return ist.read_only or ist.super_read_only

    @property
    def cloning(self) -> frozenset[int]:
        """Indices whose clone runs now."""
        if self._clone is None or self._clone.done() or self._clone_index is None:
            return frozenset()
        return frozenset({self._clone_index})

    def _start_clone(self, index: int, job: Callable[[], Awaitable[bool]]) -> bool:
        """Run a replica's clone beside the loop (one at a time); its end wakes the loop.

        The job reports through Events itself and is bounded by the clone's progress; a pass
        never awaits it, so a failover is never held behind a clone. After a failed clone the
        replica waits :func:`clone_retry_after` before the next (the loop is woken then).
        """
        if self.cloning:
            return False
        failures, retry_at = self._clone_retry.get(index, (0, 0.0))
        if time.monotonic() < retry_at:
            return False

        async def run() -> None:
            ok = False
            try:
                ok = await job()
            finally:
                task = asyncio.current_task()
                if task is None or not task.cancelling():  # a stop retries nothing
                    self._clone_ended(index, failures, ok)
                    self.wake("clone-done")

        self._clone_index = index
        self._clone = asyncio.create_task(run(), name=f"clone:{self.namespace}/{self.name}/{index}")
        return True

    def _clone_ended(self, index: int, failures: int, ok: bool) -> None:
        """Forget a replica's failures after a clone that succeeded; after one that failed, wait
        :func:`clone_retry_after` before the next and wake the loop then."""
        if ok:
            self._clone_retry.pop(index, None)
            return
        delay = clone_retry_after(failures + 1, self.cfg)
        self._clone_retry[index] = (failures + 1, time.monotonic() + delay)
        self.log.info("clone tried again later", instance=index, failures=failures + 1, after=delay)
        if self._clone_wake is not None:
            self._clone_wake.cancel()
        self._clone_wake = asyncio.get_running_loop().call_later(delay, self.wake, "clone-retry")

    def _note_written(self, ctx: op.OpContext) -> None:
        """Remember a primary index the operation wrote (even when it failed afterwards)."""
        if ctx.chosen is not None:
            self.last.chosen = ctx.chosen
            self._written_primary = ctx.chosen
            self._last_status = None

    async def _pass(self, log: Any) -> bool:
        fresh, self._read_fresh = self._read_fresh, False
        cluster = await self._fresh_cluster(log, fresh=fresh)
        if cluster is None:
            return False
        if cluster.clustering_stopped:
            self.metrics.stopped()
            await self._report(stopped_update())
            if not self._stopped_reported:
                await self._kube(
                    self.kube.record_event(
                        "Normal", EV_CLUSTERING_STOPPED, "clustering is stopped by annotation"
                    )
                )
                self._stopped_reported = True
            return False
        self._stopped_reported = False
        if not 0 <= cluster.current_primary_index < cluster.replicas:
            await self._refuse_primary_index(cluster, log)
            return False
        try:
            pods = await self._kube(self.kube.list_pods())
            creds = await self._kube(self.kube.get_credentials())
        except TimeoutError as e:
            raise GatherError(f"reading Pods or credentials timed out: {e}") from e
        t_gather = time.monotonic()
        p = cluster.current_primary_index
        # known silent: one short try each (the watch already counts a silent primary's tries);
        # a new process has heard from none: a dead primary must not hold its first pass for
        # status_retries x connect_timeout before the evidence can even begin
        once = self._silent | ({p} if self._down is not None and self._down.index == p else set())
        if self._unheard:
            once |= set(range(cluster.replicas))
        moving: Token[bool] | None = None
        g: Gathered = await gather(cluster, pods, creds, self.cfg, once=once)
        self._unheard = False
        try:
            self._silent = frozenset(
                i
                for i, pod in enumerate(g.status.pods)
                if pod is not None and g.status.instances[i] is None and i not in g.status.unreadable
            )
            tries = 1 if p in once else max(self.cfg.status_retries, 1)
            g.status = replace(
                g.status,
                primary_down_confirmed=self._primary_down(g.status, t_gather, tries),
                primary_crashed=self._primary_crashed(g.status),
            )
            self._follow_writable_primary(g.status, creds)
            if g.status.primary_crashed:
                log.warning(
                    "the primary's mysqld container restarted since it was last writable",
                    index=g.status.primary,
                )
            d = hold_switchover(decide(g.status), g.status)
            # from here a failover's or switchover's requests never wait for the rate limit
            moving = urgency.mark(d.operation in (Operation.FAILOVER, Operation.SWITCHOVER))
            if d.operation is not Operation.NONE and not fresh and not await self._view_holds(cluster, log):
                self._read_fresh = True
                return True  # decide again on the cluster as the API server has it
            if d.reason == PRIMARY_UNREACHABLE:
                d = replace(d, reason=evidence.why(self._down))
            self.last.decision = d
            self.metrics.observed(g.status, d.state)
            self.last.decision_pass = self.last.passes
            self.last.history.append((d.state, d.operation))
            del self.last.history[:-200]
            logger = log.bind(state=d.state.value, op=d.operation.value)
            if d.operation is not Operation.NONE:
                self.last.primaries_acted_on.append(g.status.primary)
                del self.last.primaries_acted_on[:-200]
                logger.info("decided", reason=d.reason, candidate=d.candidate)
            detail = d.reason if d.operation is Operation.NONE else ""
            await self._report(
                status_update(g.status, d.state, detail, decision=d, last_change=self._last_change)
            )
            await self._sync_prevent_delete(g.status, logger)
            if d.reason == WAIT_CONFIRM:
                asyncio.get_running_loop().call_later(self.cfg.failover_recheck, self.wake, "confirm")
            elif _unanswered(g.status):
                asyncio.get_running_loop().call_later(self.cfg.unreachable_recheck, self.wake, "unreachable")
            elif _connecting(g.status):
                asyncio.get_running_loop().call_later(self.cfg.connecting_recheck, self.wake, "connecting")
            ctx = op.OpContext(
                self.kube,
                self.agent,
                creds,
                self.cfg,
                g,
                logger,
                warned=self._warned,
                io_restarts=self._io_restarts,
                start_clone=self._start_clone,
                cloning=self.cloning,
            )
            return await self._apply(ctx, d)
        finally:
            if moving is not None:
                urgency.unmark(moving)
            await g.close()

    async def _sync_prevent_delete(self, ss: StatusSet, log: Any) -> None:
        """Set or remove the primary's prevent-delete annotation (moco.clustering.preventdelete)."""
        for pod, on in annotation_changes(ss):
            if on:
                log.info(
                    "replication delay beyond maxDelaySecondsForPodDeletion: Pod deletion prevented", pod=pod
                )
            else:
                log.info("Pod deletion allowed again", pod=pod)
            await self._kube(self.kube.set_prevent_delete(pod, on))

    async def _refuse_primary_index(self, cluster: ClusterSpecView, log: Any) -> None:
        idx, n = cluster.current_primary_index, cluster.replicas
        log.error("primary index out of range; nothing is done", index=idx, replicas=n)
        await self._report(invalid_primary_update(idx, n))
        key = f"{INVALID_PRIMARY_INDEX}/{idx}/{n}"
        if key not in self._warned:
            self._warned.add(key)
            msg = f"status.currentPrimaryIndex {idx} names no instance of {n}; clustering waits"
            await self._kube(self.kube.record_event("Warning", INVALID_PRIMARY_INDEX, msg))

    async def _apply(self, ctx: op.OpContext, d: Decision) -> bool:
        if d.operation is Operation.CONFIGURE:
            return await op.configure(ctx)
        if d.operation is Operation.CLONE:
            # the clone is bounded by progress, not by a total: a large one may take hours
            if self._pass_bound is not None:
                self._pass_bound.reschedule(None)
            return await op.clone_from_source(ctx)
        if d.operation is Operation.SWITCHOVER:
            assert d.candidate is not None
            t0 = time.monotonic()
            try:
                await op.switchover(ctx, d.candidate)
            except Exception as e:
                await ctx.event("Warning", EV_SWITCHOVER_FAILED, f"switchover failed: {e}")
                raise
            finally:
                self._note_written(ctx)
            self.watch.forget()
            took = time.monotonic() - t0
            self.metrics.switched_over(took)
            self._last_change = primary_change(
                "Switchover", ctx.g.status.primary, d.candidate, took, d.reason, _now()
            )
            await ctx.event("Normal", EV_SWITCHOVER_SUCCEEDED, f"the primary is now instance {d.candidate}")
            await self._open_new_primary(ctx)
            return True
        if d.operation is Operation.FAILOVER:
            # writes stopped when the old primary stopped answering (or now, at the latest)
            since = self._down.since if self._down is not None else time.monotonic()
            try:
                await op.failover(ctx)
            except Exception as e:
                await ctx.event("Warning", EV_FAILOVER_FAILED, f"failover failed: {e}")
                raise
            finally:
                self._note_written(ctx)
            await self._fire_fence_line(ctx)
            self.watch.forget()
            took = time.monotonic() - since
            self.metrics.failed_over(took)
            if ctx.chosen is not None:
                self._last_change = primary_change(
                    "Failover", ctx.g.status.primary, ctx.chosen, took, d.reason, _now()
                )
            await ctx.event(
                "Normal", EV_FAILOVER_SUCCEEDED, f"the primary is now instance {ctx.chosen} ({d.reason})"
            )
            await self._open_new_primary(ctx)
            return True
        return False

    async def _fire_fence_line(self, ctx: op.OpContext) -> None:
        """Send the old primary its fence on the watch's line, before the new primary opens
        (:mod:`moco.clustering.fenceline`): a frozen or cut-off primary finds it waiting when
        it wakes up."""
        old = ctx.g.status.primary
        if ctx.chosen is None or ctx.chosen == old:
            return
        line = self.watch.take_line(old)
        if line is None:
            return
        ctx.log.info("fence sent to the old primary on the fence line", instance=old)
        await self.fences.fire(line, self.cfg, ctx.log.bind(instance=old))

    async def _open_new_primary(self, ctx: op.OpContext) -> None:
        """Configure around the primary a switchover or failover just chose, in the same pass.

        The writes wait from the old primary's fence to the new one's opening; the next pass
        would first wait for a view of the cluster that shows the new index (an informer's
        watch event) and read every instance again. Here the cluster is the one this process
        just wrote, the instances are read again over the pass's connections, and the decision
        is :func:`decide`'s, as in any pass: only a ``configure`` is applied (anything else, or
        an instance that cannot be read, is left to the next pass, which follows at once).
        """
        if ctx.chosen is None:
            return
        cluster = replace(ctx.ss.cluster, current_primary_index=ctx.chosen)
        try:
            g = await reread(ctx.g, cluster)
        except (MySQLError, ClusteringError) as e:
            ctx.log.info("the new primary is left to the next pass", error=str(e))
            return
        d = decide(g.status)
        if d.operation is not Operation.CONFIGURE:
            ctx.log.info(
                "the new primary is left to the next pass", state=d.state.value, op=d.operation.value
            )
            return
        log = ctx.log.bind(state=d.state.value, op=d.operation.value)
        log.info("decided", reason=d.reason, candidate=d.candidate, same_pass=True)
        await op.configure(replace(ctx, g=g, log=log))


#: The origins of passes the loop's own timer starts (any other pass was woken by an event).
TIMED_ORIGINS = frozenset({"interval", "retry"})


def failed_in_a_row(failures: int, *, failed: bool, origin: str) -> int:
    """The failed passes that set the retry timer (:meth:`ClusterProcess.retry_delay`).

    A good pass resets the count. A failed pass the timer started counts; one woken by an event
    (a Pod or cluster change, a redo, a recheck) counts only when it starts the streak: events
    that fail one after the other within a second must not stretch the next timed retry to
    ``retry_max`` (seen: seven passes failed in 1.5 s while a new replica's mysqld was still
    being set up, then 10 s without a pass).
    """
    if not failed:
        return 0
    if failures == 0 or origin in TIMED_ORIGINS:
        return failures + 1
    return failures


def clone_retry_after(failures: int, cfg: ProcessConfig) -> float:
    """Seconds before a replica whose last ``failures`` clones failed in a row is cloned again
    (pure): ``clone_retry_initial`` doubled at each failure after the first, at most
    ``clone_retry_max``."""
    return float(min(cfg.clone_retry_initial * 2 ** max(failures - 1, 0), cfg.clone_retry_max))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _connecting(ss: StatusSet) -> bool:
    """Whether a replica's IO thread connects to its source, or failed to (it is restarted at
    most every ``io_restart_every``: the pass that may restart it must come)."""
    return any(
        i != ss.primary
        and ist is not None
        and ist.replica is not None
        and (ist.replica.io_connecting or (not ist.replica.io_running and bool(ist.replica.last_io_errno)))
        for i, ist in enumerate(ss.instances)
    )


def _unanswered(ss: StatusSet) -> bool:
    """Whether a Pod that is there (and not being deleted) has a mysqld that did not answer."""
    return any(
        pod is not None and not pod.deleting and ss.instances[i] is None and i not in ss.unreadable
        for i, pod in enumerate(ss.pods)
    )
