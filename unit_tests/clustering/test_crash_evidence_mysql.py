"""A crash of the primary's mysqld is evidence that the primary is gone (mysql tier).

In a Pod, ``kill 1`` in the mysqld container (MOCO's e2e failover scenario) ends mysqld; kubelet
starts the container again, its restartCount goes up and mysqld answers again, super_read_only,
often sooner than ``failover_after``. The loop remembers the primary's (Pod, restartCount) when
it last saw it writable: the same Pod with a higher count and a primary that is not writable is
failed over at once. The same quick restart without a restartCount change (no crash of the
container) is not failed over. ``failover_after`` is set far beyond the test's waits, so only
the crash evidence can explain a failover here.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from moco.clustering.types import ClusterState

from ..fixtures.clustering import (
    FAST,
    ClusterFactory,
    ClusterGround,
    checker_for,
    healthy_or_errant_recloned,
    verify_eventually,
)

pytestmark = pytest.mark.mysql

#: the time-based rule cannot fail over within the test's waits.
SLOW_CONFIRM = replace(FAST, failover_after=120.0, failover_tries=1000)


async def crash_and_restart(cg: ClusterGround, i: int, *, container_restarted: bool = True) -> None:
    """SIGKILL mysqld ``i`` and start it again at once, as kubelet does after ``kill 1``.

    With ``container_restarted`` the Pod says so (the container was seen terminated, then its
    restartCount went up); without, the Pod shows nothing (a mysqld that dropped its connections).
    """
    await cg.kill(i)
    if container_restarted:
        cg.h.kube.stop_mysqld_container(i)
        cg.h.proc.wake("pod-event")
    await asyncio.to_thread(cg.ms[i].start)
    await cg.ms[i].wait_ready(60)
    if container_restarted:
        cg.h.kube.restart_mysqld_container(i)
        cg.h.kube.set_pod(i, ready=True)
    cg.h.proc.wake("pod-event")


async def test_a_primary_restarted_by_kubelet_is_failed_over(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3, cfg=SLOW_CONFIRM)
    await cg.h.wait_healthy(60)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.5)
        old = cg.h.primary
        t0 = asyncio.get_running_loop().time()
        await crash_and_restart(cg, old)
        await cg.h.wait_for(lambda: cg.h.primary != old, 30, "failover after a container restart")
        took = asyncio.get_running_loop().time() - t0
        await healthy_or_errant_recloned(cg, old)
        await asyncio.sleep(0.5)
    assert took < SLOW_CONFIRM.failover_after
    new = cg.h.primary
    rep = await chk.verify(cg.admin(new))
    assert rep.ok, rep.describe()
    assert chk.gaps(), "writes never resumed on the new primary"
    assert "FailOver" in cg.h.kube.reasons()
    # the restarted old primary follows the new one with everything acknowledged
    rep = await verify_eventually(chk, cg.admin(old))
    assert rep.ok, f"old primary {old}: {rep.describe()}"


async def test_a_quick_restart_without_a_container_restart_is_not_failed_over(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3, cfg=SLOW_CONFIRM)
    await cg.h.wait_healthy(60)
    old = cg.h.primary
    await crash_and_restart(cg, old, container_restarted=False)
    await cg.h.wait_healthy(60)
    await asyncio.sleep(2.0)
    assert cg.h.primary == old, "failed over without evidence that the container restarted"
    assert "FailOver" not in cg.h.kube.reasons()
    assert cg.h.state is ClusterState.HEALTHY


async def test_a_second_crash_right_after_a_failover_fails_over_again(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3, cfg=SLOW_CONFIRM)
    await cg.h.wait_healthy(60)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.5)
        first = cg.h.primary
        await crash_and_restart(cg, first)
        await cg.h.wait_for(lambda: cg.h.primary != first, 30, "first failover")
        second = cg.h.primary
        await healthy_or_errant_recloned(cg, first)
        await asyncio.sleep(0.5)
        await crash_and_restart(cg, second)
        await cg.h.wait_for(lambda: cg.h.primary != second, 30, "second failover")
        await healthy_or_errant_recloned(cg, second)
        await asyncio.sleep(0.5)
    assert cg.h.kube.reasons().count("FailOver") == 2
    rep = await chk.verify(cg.admin(cg.h.primary))
    assert rep.ok, rep.describe()
    for i in range(3):
        rep = await verify_eventually(chk, cg.admin(i))
        assert rep.ok, f"instance {i}: {rep.describe()}"


async def test_a_crashed_primary_of_a_cluster_without_data_is_restarted_in_place(
    cluster_ground: ClusterFactory,
) -> None:
    """No transaction was ever written: no replica holds data, so none may take over (MOCO's
    rule). The crashed primary that comes back read-only is made writable again in place,
    not left Lost (found by an e2e `kill 1` on a new cluster)."""
    cg = await cluster_ground(3, cfg=SLOW_CONFIRM)
    await cg.h.wait_healthy(60)
    old = cg.h.primary
    await crash_and_restart(cg, old)
    await cg.h.wait_healthy(60)
    assert cg.h.primary == old
    assert "FailOver" not in cg.h.kube.reasons()
