"""Acknowledged writes across a primary change, on a MySQLCluster in Kubernetes.

:func:`through_primary_change` runs :class:`moco.testing.checker.WriteChecker` through the
cluster's current primary (reached as :mod:`e2e.mysql_access` decides), triggers the change
(a callable: kill mysqld, annotate the Pod), waits for a new primary and the Healthy condition,
keeps writing on the new primary, then checks that every acknowledged write is on every instance
(the new primary and, once caught up, each replica including the former primary), and that no
two instances were ever writable at once (sampled when the Pod IPs are reachable).

kubectl calls block: they run in threads, so the writer's event loop never stalls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl
from e2e.mysql_access import READONLY, WRITABLE, ClusterAccess
from moco.mysql.errors import MySQLError
from moco.testing.checker import Report, WriteChecker

#: acknowledged writes wanted before the change and after it.
WARMUP_ACKS = 50
SETTLE_ACKS = 50


@dataclass(frozen=True)
class Outcome:
    """What one primary change cost and kept."""

    old_primary: int
    new_primary: int
    unavailable_s: float
    acknowledged: int
    errors: int
    healthy_after_s: float
    reports: tuple[tuple[str, Report], ...]
    #: the old primary came back errant and was re-initialized (``errant_old_primary``).
    reinitialized: bool = False


async def _wait_acks(k: Kubectl, name: str, chk: WriteChecker, n: int, after: float, what: str) -> None:
    deadline = time.monotonic() + 120
    while chk.acked_after(after) < n:
        if time.monotonic() > deadline:
            diag = await asyncio.to_thread(mc.diagnostics, k, name)
            raise AssertionError(
                f"{what}: {chk.acked_after(after)} of {n} writes acknowledged within 120s "
                f"(errors {chk.errors})\n{diag}"
            )
        await asyncio.sleep(0.1)


async def _verify_everywhere(
    k: Kubectl, name: str, acc: ClusterAccess, chk: WriteChecker
) -> list[tuple[str, Report]]:
    """Every acknowledged write on the primary, then on every instance (replicas may lag: retried)."""
    reports = [("primary", await chk.verify(acc.primary(WRITABLE)))]
    for ep in await asyncio.to_thread(acc.instances, READONLY):
        deadline = time.monotonic() + 60
        while True:
            try:
                rep = await chk.verify(ep)
            except MySQLError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
                continue
            if rep.ok or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        reports.append((ep.address, rep))
    return reports


async def start_checker(acc: ClusterAccess) -> WriteChecker:
    """The acknowledged-write checker through the cluster's primary, writing; it samples every
    instance's read-only state where their Pod IPs are reachable."""
    instances = await asyncio.to_thread(acc.instances, READONLY)
    chk = WriteChecker(
        primary=acc.primary,
        instances=(lambda: instances) if instances else None,
        connect_timeout=2.0,
        write_timeout=5.0,
    )
    await chk.setup(timeout=60)
    chk.start()
    return chk


async def through_primary_change(
    k: Kubectl,
    name: str,
    acc: ClusterAccess,
    change: Callable[[int], None],
    *,
    wait_s: float = 420,
    errant_old_primary: bool = False,
) -> Outcome:
    """Write continuously, call ``change(old_primary_index)``, wait for another primary + Healthy.

    ``errant_old_primary``: the change may leave the old primary errant, and then it is
    re-initialized as a human would (:func:`e2e.moco_cluster.reinitialize`). A mysqld killed
    between writing a commit to its binary log and that commit's acknowledgement (semi-sync
    AFTER_SYNC) comes back holding it, and no other instance has it: the loop lists the instance
    errant and leaves it alone, as MOCO does. Only the old primary is remedied, and only then;
    any other errant instance keeps the cluster from Healthy and fails the wait.
    """
    old = await asyncio.to_thread(mc.primary_index, k, name)
    chk = await start_checker(acc)
    reinitialized = False
    try:
        await _wait_acks(k, name, chk, WARMUP_ACKS, 0.0, "writes before the change")
        await asyncio.to_thread(change, old)
        t0 = time.monotonic()

        def moved_and_healthy() -> bool:
            nonlocal reinitialized
            if mc.primary_index(k, name) == old:
                return False
            if mc.is_healthy(k, name):
                return True
            if errant_old_primary and not reinitialized and old in mc.errant(k, name):
                mc.reinitialize(k, name, old)
                reinitialized = True
            return False

        await asyncio.to_thread(
            mc.wait, k, name, f"a primary other than {old}, Healthy", moved_and_healthy, wait_s
        )
        healthy_after = time.monotonic() - t0
        await _wait_acks(k, name, chk, SETTLE_ACKS, time.monotonic(), "writes on the new primary")
    finally:
        await chk.stop()
    new = await asyncio.to_thread(mc.primary_index, k, name)
    reports = await _verify_everywhere(k, name, acc, chk)
    gaps = chk.gaps()
    assert gaps, (
        f"all acknowledged writes went to one server: the primary never changed ({len(chk.acks)} acks)"
    )
    return Outcome(
        old_primary=old,
        new_primary=new,
        unavailable_s=round(max(g.seconds for g in gaps), 3),
        acknowledged=len(chk.acks),
        errors=chk.errors,
        healthy_after_s=round(healthy_after, 1),
        reports=tuple(reports),
        reinitialized=reinitialized,
    )


def assert_nothing_lost(k: Kubectl, name: str, out: Outcome) -> None:
    bad = [(where, rep.describe()) for where, rep in out.reports if not rep.ok]
    if bad:
        raise AssertionError(f"acknowledged writes lost or split brain: {bad}\n{mc.diagnostics(k, name)}")
