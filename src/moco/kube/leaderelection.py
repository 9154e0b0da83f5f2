"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection``.

Timing (client-go's defaults): a lease lasts ``lease_duration`` (15 s); the leader renews it every
``retry_period`` (2 s) and gives up leadership when it could not renew for ``renew_deadline``
(10 s); candidates try every ``retry_period``.

Invariants:

- **Expiry is judged on our monotonic clock**, never on the timestamps in the Lease (clocks of
  different machines disagree): a candidate notes *when it saw* the lease record change and
  considers the lease expired ``leaseDurationSeconds`` after that. A candidate schedules its next
  try no later than that expiry, so a dead leader is replaced within one lease duration plus one
  retry period of its last renewal being seen.
- **Every write is conflict-checked**: updates carry the ``resourceVersion`` read just before, so two
  candidates can never both believe they won.
- **Release on clean stop** (``release_on_cancel``): the leader writes an empty holder and
  ``leaseDurationSeconds=1``, so another candidate takes over at its next try (within one retry period).
- Losing the lease is final for this elector: :meth:`LeaderElector.run` returns, and the caller
  (the manager) ends the process.
- **The lease never waits for the shared rate limit** (:mod:`moco.urgency`): its requests are
  urgent. client-go gives leader election a client of its own for the same reason; with one
  limiter, a backlog of routine requests (a cold start of 1,000 clusters) delayed the renewals
  past ``renew_deadline`` and the leader stepped down under load.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moco import urgency
from moco.kube import errors, metrics
from moco.kube.client import Client
from moco.kube.resource import LEASES
from moco.kube.store import Obj
from moco.log import get_logger

log = get_logger("moco.kube.leaderelection")


@dataclass(frozen=True)
class LeaderElectionConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")


def micro_time(now: datetime.datetime | None = None) -> str:
    """A ``metav1.MicroTime`` string."""
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(spec: dict[str, Any]) -> tuple[Any, ...]:
    return (
        spec.get("holderIdentity") or "",
        spec.get("leaseDurationSeconds"),
        spec.get("acquireTime"),
        spec.get("renewTime"),
        spec.get("leaseTransitions"),
    )


class LeaderElector:
    """Acquires, renews and releases one Lease for one identity."""

    def __init__(
        self,
        client: Client,
        config: LeaderElectionConfig,
        clock: Callable[[], float] = time.monotonic,
        *,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
    ):
        """``on_started_leading`` / ``on_stopped_leading`` are called (synchronously) when leadership
        is gained and when it ends (lost, or released on stop)."""
        self.client = client
        self.config = config
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self._clock = clock
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._observed_duration = config.lease_duration
        self.leading = asyncio.Event()
        self.transitions_seen = 0
        self._status = metrics.LEADER_ELECTION_STATUS.labels(config.name)
        self._log = log.bind(lease=f"{config.namespace}/{config.name}", identity=config.identity)

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    # --- one attempt -------------------------------------------------------------------------
    def _observe(self, spec: dict[str, Any]) -> None:
        rec = _record(spec)
        if rec != self._observed:
            self._observed = rec
            self._observed_at = self._clock()
            self._observed_duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration)

    def _expires_in(self) -> float:
        return self._observed_at + self._observed_duration - self._clock()

    async def try_acquire_or_renew(self) -> bool:
        """One conflict-checked attempt; True when we hold the lease afterwards."""
        cfg = self.config
        now = micro_time()
        try:
            lease = await self.client.get(
                LEASES, cfg.name, cfg.namespace, request_timeout=cfg.retry_period * 2
            )
        except errors.NotFound:
            fresh: dict[str, Any] = {
                "holderIdentity": cfg.identity,
                "leaseDurationSeconds": int(cfg.lease_duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            }
            body: Obj = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                "spec": fresh,
            }
            try:
                await self.client.create(LEASES, body, request_timeout=cfg.retry_period * 2)
            except errors.AlreadyExists:
                return False
            self._observe(fresh)
            return True
        spec = dict(lease.get("spec") or {})
        self._observe(spec)
        holder = spec.get("holderIdentity") or ""
        if holder and holder != cfg.identity and self._expires_in() > 0:
            return False
        new = dict(spec)
        new["holderIdentity"] = cfg.identity
        new["leaseDurationSeconds"] = int(cfg.lease_duration)
        new["renewTime"] = now
        if holder != cfg.identity:
            new["acquireTime"] = now
            new["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        lease["spec"] = new
        try:
            await self.client.replace(LEASES, lease, request_timeout=cfg.retry_period * 2)
        except errors.Conflict:
            return False
        self._observe(new)
        return True

    async def release(self) -> bool:
        """Give the lease up if we hold it (empty holder, 1 s duration)."""
        with urgency.urgent():
            return await self._release()

    async def _release(self) -> bool:
        cfg = self.config
        try:
            lease = await self.client.get(
                LEASES, cfg.name, cfg.namespace, request_timeout=cfg.retry_period * 2
            )
            spec = dict(lease.get("spec") or {})
            if spec.get("holderIdentity") != cfg.identity:
                return False
            now = micro_time()
            spec.update(holderIdentity="", leaseDurationSeconds=1, acquireTime=now, renewTime=now)
            lease["spec"] = spec
            await self.client.replace(LEASES, lease, request_timeout=cfg.retry_period * 2)
        except errors.KubeError as e:
            self._log.warning("lease not released", error=str(e))
            return False
        self._log.info("lease released")
        return True

    # --- the loop ----------------------------------------------------------------------------
    async def _attempt(self) -> bool:
        try:
            with urgency.urgent():
                return await self.try_acquire_or_renew()
        except errors.KubeError as e:
            self._log.warning("lease update failed", error=str(e))
            return False

    async def _acquire(self) -> None:
        period = self.config.retry_period
        while not await self._attempt():
            # retry no later than the moment the observed lease expires
            delay = period * (0.8 + 0.2 * random.random())
            expires = self._expires_in()
            if 0 < expires < delay:
                delay = expires + 0.01
            await asyncio.sleep(delay)

    async def _renew(self) -> None:
        cfg = self.config
        while True:
            deadline = self._clock() + cfg.renew_deadline
            while True:
                left = deadline - self._clock()
                try:
                    ok = await asyncio.wait_for(self._attempt(), max(left, 0.01))
                except TimeoutError:
                    ok = False
                if ok:
                    break
                if self._clock() + cfg.retry_period > deadline:
                    return  # could not renew within renew_deadline
                await asyncio.sleep(cfg.retry_period)
            await asyncio.sleep(cfg.retry_period)

    async def run(self) -> None:
        """Acquire, then renew until lost (returns) or cancelled (releases, then re-raises)."""
        self._log.info("waiting for leadership")
        await self._acquire()
        self.leading.set()
        self._status.set(1)
        self._log.info("became leader")
        if self.on_started_leading is not None:
            self.on_started_leading()
        try:
            await self._renew()
            self._log.error("leadership lost")
        except asyncio.CancelledError:
            if self.config.release_on_cancel:
                await asyncio.shield(asyncio.wait_for(self.release(), self.config.retry_period * 2))
            raise
        finally:
            self.leading.clear()
            self._status.set(0)
            if self.on_stopped_leading is not None:
                self.on_stopped_leading()
