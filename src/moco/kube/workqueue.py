"""A rate-limited work queue with client-go's semantics, for one asyncio event loop.

Rules (each has a unit test named after it in ``unit_tests/kube/test_workqueue.py``):

1. **Dirty set de-duplicates**: a key added several times before a worker takes it is processed once.
2. **Processing set excludes**: a key being processed is never handed to a second worker.
3. **Re-add while processing**: a key added while it is processed is queued again on :meth:`done`
   (and only then), so the latest state is always reconciled.
4. **FIFO**: keys are handed out in the order they were first added.
5. **add_after keeps the earliest time**: a key waiting for a delay is added when the earliest
   requested time comes; a later request does not postpone it, an earlier one brings it forward.
6. **Rate limiting**: :meth:`add_rate_limited` waits ``rate_limiter.when(key)`` (by default the max of
   a per-key 5 ms..1000 s exponential backoff and an overall 10 qps / burst 100 bucket);
   :meth:`forget` resets the key's failures.
7. **Shut down**: after :meth:`shutdown` adds are ignored, workers drain what is queued, then
   :meth:`get` raises :class:`ShutDown`.

Everything but :meth:`get` is synchronous, so informer event handlers can enqueue directly.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from moco.kube import metrics
from moco.kube.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down and drained."""


class WorkQueue(Generic[T]):
    """client-go's rate-limiting delaying work queue."""

    def __init__(self, name: str = "", rate_limiter: RateLimiter | None = None):
        self.name = name
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter()
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._waiting: dict[T, tuple[float, asyncio.TimerHandle]] = {}
        self._added_at: dict[T, float] = {}
        self._started_at: dict[T, float] = {}
        self._shutting_down = False
        self._depth = metrics.WORKQUEUE_DEPTH.labels(name)
        self._adds = metrics.WORKQUEUE_ADDS.labels(name)
        self._retries = metrics.WORKQUEUE_RETRIES.labels(name)
        self._queue_duration = metrics.WORKQUEUE_QUEUE_DURATION.labels(name)
        self._work_duration = metrics.WORKQUEUE_WORK_DURATION.labels(name)

    # --- the basic queue ---------------------------------------------------------------------
    def add(self, item: T) -> None:
        """Mark ``item`` as needing processing (rules 1, 3, 4, 7)."""
        if self._shutting_down or item in self._dirty:
            return
        self._adds.inc()
        self._dirty.add(item)
        self._added_at.setdefault(item, time.monotonic())
        if item in self._processing:
            return
        self._queue.append(item)
        self._depth.set(len(self._queue))
        self._wake_one()

    async def get(self) -> T:
        """Wait for the next item and mark it as being processed; :class:`ShutDown` when done."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                elif fut.done() and not fut.cancelled():
                    self._wake_one()  # we were woken but leave: pass the wake-up on
                raise
        item = self._queue.popleft()
        self._depth.set(len(self._queue))
        self._processing.add(item)
        self._dirty.discard(item)
        now = time.monotonic()
        added = self._added_at.pop(item, None)
        if added is not None:
            self._queue_duration.observe(now - added)
        self._started_at[item] = now
        return item

    def done(self, item: T) -> None:
        """Mark ``item`` as processed; if it was re-added meanwhile, queue it again (rule 3)."""
        self._processing.discard(item)
        started = self._started_at.pop(item, None)
        if started is not None:
            self._work_duration.observe(time.monotonic() - started)
        if item in self._dirty:
            self._queue.append(item)
            self._depth.set(len(self._queue))
            self._wake_one()
        elif self._shutting_down and not self._processing:
            self._wake_all()

    def __len__(self) -> int:
        return len(self._queue)

    def shutdown(self) -> None:
        """Stop accepting adds and wake every waiting worker (rule 7)."""
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        self._wake_all()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def is_processing(self, item: T) -> bool:
        return item in self._processing

    def is_dirty(self, item: T) -> bool:
        return item in self._dirty

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    # --- delays ------------------------------------------------------------------------------
    def add_after(self, item: T, delay: float) -> None:
        """Add ``item`` after ``delay`` seconds; the earliest pending time wins (rule 5)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay
        pending = self._waiting.get(item)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()
        handle = loop.call_at(ready_at, self._fire, item)
        self._waiting[item] = (ready_at, handle)

    def _fire(self, item: T) -> None:
        self._waiting.pop(item, None)
        self.add(item)

    def waiting(self, item: T) -> float | None:
        """Loop time at which ``item`` will be added, if it waits for a delay."""
        pending = self._waiting.get(item)
        return pending[0] if pending else None

    # --- rate limiting -----------------------------------------------------------------------
    def add_rate_limited(self, item: T) -> None:
        """Add ``item`` after the rate limiter's delay for it (rule 6)."""
        self._retries.inc()
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Reset ``item``'s failure count (rule 6)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)
