"""The controller runner: N workers draining a work queue into a level-based reconcile function.

Contract (controller-runtime's):

- ``reconcile(key)`` reads the desired state itself (from informer stores) and makes the world
  match it; it is called with a key (``namespace/name``), never with an event, so it must be
  idempotent and may be called at any time.
- It returns ``None`` / ``Result()`` on success (the key's failures are forgotten),
  ``Result(requeue_after=s)`` to be called again in ``s`` seconds (failures forgotten),
  ``Result(requeue=True)`` to be called again after the rate limiter's delay, or raises: the error
  is logged and counted and the key is re-added after the rate limiter's (exponential) delay.
- The work queue guarantees one key is never reconciled by two workers at once; one reconcile
  failing or hanging never stops the other workers.
- :meth:`Controller.run` returns when cancelled: the queue is shut down, in-flight reconciles get
  ``shutdown_grace`` seconds to finish, then are cancelled.

Metrics: ``controller_runtime_reconcile_total{controller,result}``,
``controller_runtime_reconcile_errors_total``, ``controller_runtime_reconcile_time_seconds``,
``controller_runtime_active_workers``, and the work queue's ``workqueue_*``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from moco.kube import metrics
from moco.kube.handlers import EventHandler, enqueue_object, enqueue_owner
from moco.kube.informer import Informer
from moco.kube.ratelimit import RateLimiter
from moco.kube.workqueue import ShutDown, WorkQueue
from moco.log import get_logger
from moco.tasks import cancel_and_wait

log = get_logger("moco.kube.controller")


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for: nothing, a rate-limited requeue, or a requeue after a delay."""

    requeue: bool = False
    requeue_after: float = 0.0


Reconcile = Callable[[str], Awaitable[Result | None]]


class Controller:
    """Runs ``reconcile`` for the keys its watches put in its queue."""

    def __init__(
        self,
        name: str,
        reconcile: Reconcile,
        *,
        workers: int = 1,
        rate_limiter: RateLimiter | None = None,
        reconcile_timeout: float | None = None,
        shutdown_grace: float = 10.0,
    ):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.name = name
        self.reconcile = reconcile
        self.workers = workers
        self.reconcile_timeout = reconcile_timeout
        self.shutdown_grace = shutdown_grace
        self.queue: WorkQueue[str] = WorkQueue(name, rate_limiter)
        self._log = log.bind(controller=name)
        self._total = {
            r: metrics.RECONCILE_TOTAL.labels(name, r)
            for r in ("success", "error", "requeue", "requeue_after")
        }
        self._errors = metrics.RECONCILE_ERRORS.labels(name)
        self._time = metrics.RECONCILE_TIME.labels(name)
        self._active = metrics.ACTIVE_WORKERS.labels(name)
        metrics.MAX_CONCURRENT_RECONCILES.labels(name).set(workers)

    # --- wiring ------------------------------------------------------------------------------
    def watch(self, informer: Informer, handler: EventHandler | None = None) -> None:
        """Feed the queue from ``informer`` (by default: the object's own key)."""
        informer.add_event_handler(handler or enqueue_object(self.queue))

    def watch_owned(self, informer: Informer, owner_kind: str, owner_group: str = "") -> None:
        """Feed the queue with the controlling owner's key of each object of ``informer``."""
        informer.add_event_handler(enqueue_owner(self.queue, owner_kind, owner_group))

    # --- running -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Start the workers; return when cancelled (after draining, see the module docstring)."""
        tasks = [
            asyncio.create_task(self._worker(i), name=f"{self.name}-worker-{i}") for i in range(self.workers)
        ]
        self._log.info("controller started", workers=self.workers)
        try:
            # asyncio.wait, not gather: cancelling us must not cancel in-flight reconciles
            await asyncio.wait(tasks)
            for t in tasks:
                t.result()
        except asyncio.CancelledError:
            self.queue.shutdown()
            _, pending = await asyncio.wait(tasks, timeout=self.shutdown_grace)
            await asyncio.gather(*(cancel_and_wait(t) for t in pending), return_exceptions=True)
            self._log.info("controller stopped")
            raise

    async def _worker(self, index: int) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            await self.process(key)

    async def process(self, key: str) -> None:
        """Reconcile one key taken from the queue and settle it (forget, requeue or back off)."""
        self._active.inc()
        started = time.monotonic()
        try:
            if self.reconcile_timeout is not None:
                result = await asyncio.wait_for(self.reconcile(key), self.reconcile_timeout)
            else:
                result = await self.reconcile(key)
        except asyncio.CancelledError:
            self.queue.done(key)
            raise
        except Exception as e:
            self._errors.inc()
            self._total["error"].inc()
            self.queue.add_rate_limited(key)
            self._log.error(
                "reconcile failed",
                key=key,
                error=f"{type(e).__name__}: {e}",
                retries=self.queue.num_requeues(key),
                exc_info=not isinstance(e, TimeoutError),
            )
        else:
            if result is not None and result.requeue_after > 0:
                self.queue.forget(key)
                self.queue.add_after(key, result.requeue_after)
                self._total["requeue_after"].inc()
            elif result is not None and result.requeue:
                self.queue.add_rate_limited(key)
                self._total["requeue"].inc()
            else:
                self.queue.forget(key)
                self._total["success"].inc()
        finally:
            self._time.observe(time.monotonic() - started)
            self._active.dec()
        self.queue.done(key)
