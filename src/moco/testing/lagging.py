"""A Kubernetes side whose reads lag, as an informer cache does.

The controller's :class:`~moco.clustering.interfaces.KubeSide` answers ``get_cluster`` and
``list_pods`` from informer caches, which follow the API server by some delay: a write the loop
just made (``current_primary_index`` after a switchover, a role label), or a change of the
world (a Pod turning not ready), shows in the cache only later. :class:`LaggingKube` wraps any
KubeSide (the in-memory one in tests) by composition and gives the loop that view:

- writes go through at once (they are API calls);
- a recorder task snapshots the wrapped side's cluster and Pods every ``resolution`` seconds;
- while a lag ``L > 0`` is set, each read returns the newest snapshot not newer than a *view
  time* that trails the clock by a random amount in ``[L/2, L]``. The view time of each cache
  (cluster, Pods) never goes back, as an informer never shows an older resourceVersion after a
  newer one; the two caches lag independently, as two informers do;
- with ``L == 0`` (the default) reads are fresh and the view times catch up with the clock;
- a *write trap* (:meth:`LaggingKube.trap_write`) ends the loop at its n-th write from now, just
  before or just after the write lands: an operator crash at a precise point of an operation
  (after the primary index moved but before the demote annotation is removed, say).

Randomness comes from the ``random.Random`` given, so a seeded soak is reproducible.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from moco.clustering.interfaces import (
    Credentials,
    EventType,
    KubeSide,
    ReplicationSource,
    StatusUpdate,
)
from moco.clustering.types import ClusterSpecView, PodInfo
from moco.tasks import cancel_and_wait

T = TypeVar("T")

#: Default seconds between two snapshots of the wrapped side.
DEFAULT_RESOLUTION = 0.02
#: Snapshots older than the largest lag plus this margin are dropped.
_KEEP_MARGIN = 1.0


@dataclass
class _History(Generic[T]):
    """Timed snapshots of one cache, and the cache's monotonic view time."""

    times: list[float] = field(default_factory=list)
    values: list[T] = field(default_factory=list)
    view: float = 0.0

    def add(self, t: float, value: T) -> None:
        if self.times and t < self.times[-1]:  # two reads interleaved: keep the list sorted
            t = self.times[-1]
        self.times.append(t)
        self.values.append(value)

    def trim(self, before: float) -> None:
        k = bisect.bisect_left(self.times, before)
        k = min(k, len(self.times) - 1)  # keep at least the newest
        if k > 0:
            del self.times[:k]
            del self.values[:k]

    def at(self, view: float) -> tuple[float, T] | None:
        """The newest snapshot taken at or before ``view`` (the oldest one kept when none is)."""
        if not self.times:
            return None
        k = bisect.bisect_right(self.times, view) - 1
        k = max(k, 0)
        return self.times[k], self.values[k]


class LaggingKube:
    """A :class:`KubeSide` whose cluster and Pod reads may be up to :attr:`max_lag` seconds old."""

    def __init__(
        self,
        inner: KubeSide,
        rng: random.Random,
        *,
        resolution: float = DEFAULT_RESOLUTION,
        lag_cluster: bool = True,
    ) -> None:
        self.inner = inner
        #: False: only the Pods lag (the controller reads the cluster itself uncached).
        self.lag_cluster = lag_cluster
        self.rng = rng
        self.resolution = resolution
        #: Upper bound of the lag of a read; 0 means fresh reads.
        self.max_lag = 0.0
        #: The largest age of a value actually returned (seconds), for reports.
        self.largest_served_age = 0.0
        #: Reads answered from an older snapshot than the newest.
        self.stale_reads = 0
        self._cluster: _History[ClusterSpecView | None] = _History()
        self._pods: _History[tuple[PodInfo, ...]] = _History()
        self._task: asyncio.Task[None] | None = None
        #: called with (type, reason, message) for every Event the loop records (for timelines).
        self.observer: Callable[[str, str, str], None] | None = None
        self._trap: WriteTrap | None = None

    # --- control ----------------------------------------------------------------------------------
    def set_lag(self, seconds: float) -> None:
        """Reads from now on lag by up to ``seconds`` (0: fresh)."""
        self.max_lag = max(0.0, seconds)

    async def start(self) -> None:
        """Take a first snapshot and start the recorder task (idempotent)."""
        if self._task is None or self._task.done():
            await self._snapshot()
            self._task = asyncio.create_task(self._record(), name="lagging-kube-recorder")

    async def stop(self) -> None:
        """Stop the recorder task."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    async def _snapshot(self) -> None:
        now = time.monotonic()
        self._cluster.add(now, await self.inner.get_cluster())
        self._pods.add(now, tuple(await self.inner.list_pods()))
        keep = now - self.max_lag - _KEEP_MARGIN
        self._cluster.trim(keep)
        self._pods.trim(keep)

    async def _record(self) -> None:
        while True:
            await self._snapshot()
            await asyncio.sleep(self.resolution)

    def _read(self, hist: _History[T]) -> T | None:
        now = time.monotonic()
        lag = self.rng.uniform(self.max_lag / 2, self.max_lag) if self.max_lag > 0 else 0.0
        hist.view = max(hist.view, now - lag)
        got = hist.at(hist.view)
        if got is None:
            return None
        t, value = got
        if t < hist.times[-1]:
            self.stale_reads += 1
            self.largest_served_age = max(self.largest_served_age, now - t)
        return value

    # --- KubeSide: lagging reads ------------------------------------------------------------------
    async def get_cluster(self, *, fresh: bool = False) -> ClusterSpecView | None:
        if fresh or self.max_lag <= 0 or not self.lag_cluster or not self._cluster.times:
            # a fresh read is a snapshot too: a later lagging read never serves an older one
            value = await self.inner.get_cluster(fresh=True)
            self._cluster.view = now = time.monotonic()
            self._cluster.add(now, value)
            return value
        return self._read(self._cluster)

    async def list_pods(self) -> Sequence[PodInfo]:
        if self.max_lag <= 0 or not self._pods.times:
            pods = tuple(await self.inner.list_pods())
            self._pods.view = now = time.monotonic()
            self._pods.add(now, pods)
            return list(pods)
        lagged: tuple[PodInfo, ...] | None = self._read(self._pods)
        return list(lagged or ())

    # --- KubeSide: everything else goes through ---------------------------------------------------
    async def get_credentials(self) -> Credentials:
        return await self.inner.get_credentials()

    async def get_replication_source(self, secret_name: str) -> ReplicationSource:
        return await self.inner.get_replication_source(secret_name)

    async def set_role_label(self, pod: str, role: str | None) -> None:
        await self._write(f"set_role_label({pod}, {role})", self.inner.set_role_label(pod, role))

    async def route_primary(self, pod: str) -> None:
        await self._write(f"route_primary({pod})", self.inner.route_primary(pod))

    async def remove_demote_annotation(self, pod: str) -> None:
        await self._write(f"remove_demote_annotation({pod})", self.inner.remove_demote_annotation(pod))

    async def set_prevent_delete(self, pod: str, on: bool) -> None:
        await self._write(f"set_prevent_delete({pod}, {on})", self.inner.set_prevent_delete(pod, on))

    async def update_status(self, update: StatusUpdate) -> None:
        what = "update_status" + (
            f"(current_primary_index={update.current_primary_index})"
            if update.current_primary_index is not None
            else "(report)"
        )
        await self._write(what, self.inner.update_status(update))

    async def record_event(self, type: EventType, reason: str, message: str) -> None:
        if self.observer is not None:
            self.observer(type, reason, message)
        await self._write(f"record_event({reason})", self.inner.record_event(type, reason, message))

    # --- a crash at a write -------------------------------------------------------------------------
    def trap_write(self, nth: int, *, before: bool) -> WriteTrap:
        """The ``nth`` write from now ends the calling task (the loop) as a crash would, just
        before the write reaches the wrapped side or just after; see :class:`WriteTrap`."""
        self._trap = WriteTrap(left=max(1, nth), before=before)
        return self._trap

    def disarm(self) -> None:
        """Forget a trap that has not fired."""
        self._trap = None

    async def _write(self, what: str, call: Coroutine[Any, Any, None]) -> None:
        trap = self._trap
        if trap is not None:
            trap.left -= 1
            if trap.left <= 0:
                self._trap = None
                trap.fired_at = what
                trap.fired.set()
                if trap.before:
                    call.close()
                    raise asyncio.CancelledError(f"crash before {what}")
                await call
                raise asyncio.CancelledError(f"crash after {what}")
        await call


@dataclass
class WriteTrap:
    """A crash armed on the loop's writes (:meth:`LaggingKube.trap_write`).

    When it fires, the write's caller gets :class:`asyncio.CancelledError`, which ends the loop
    task as a cancellation does: nothing after that point of the operation runs.
    """

    left: int
    before: bool
    fired: asyncio.Event = field(default_factory=asyncio.Event)
    #: the write it fired at (``""`` until then).
    fired_at: str = ""
