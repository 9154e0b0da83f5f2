"""A failover needs evidence that the primary is gone (mysql tier).

A missing Pod (offline->online, a full restart, a force-rolling-update) and one failed connect
to a primary whose readiness probe flaps are not evidence: the loop fails over only after
``failover_tries`` failed tries spread over at least ``failover_after`` seconds (silence), or
after refused tries spread over ``refused_after`` seconds (a dead mysqld), and says so in the
status meanwhile (the rules: ``moco.clustering.evidence``).
"""

from __future__ import annotations

import asyncio

import pytest

from moco.clustering.interfaces import COND_HEALTHY
from moco.clustering.types import ClusterState
from moco.mysql.conn import connect

from ..fixtures.clustering import ClusterFactory, ClusterGround, checker_for, fail_primary

pytestmark = pytest.mark.mysql


async def write_something(cg: ClusterGround) -> None:
    """Replicas with data: a lost primary then leaves the cluster Failed, not Lost."""
    async with await connect(cg.primary_endpoint()) as c:
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE IF NOT EXISTS app.e (id INT PRIMARY KEY)")
        await c.execute("INSERT INTO app.e VALUES (1)")
    await cg.h.wait_healthy(30)


async def test_missing_primary_pod_is_not_failed_over(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    await write_something(cg)
    pod = cg.h.kube.remove_pod(0)
    cg.h.proc.wake("pod-deleted")
    await asyncio.sleep(4.0)
    assert cg.h.primary == 0, "failed over because a Pod object was missing"
    assert "FailOver" not in cg.h.kube.reasons()
    cg.h.kube.add_pod(pod)
    cg.h.proc.wake("pod-created")
    await cg.h.wait_healthy(30)
    assert cg.h.primary == 0


async def test_a_primary_hung_shorter_than_the_bound_is_not_failed_over(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    await write_something(cg)
    bound = cg.h.proc.cfg.failover_after
    # the readiness probe flaps and mysqld does not answer for a moment
    await asyncio.to_thread(cg.ms[0].pause)
    try:
        cg.h.kube.set_pod(0, ready=False)
        cg.h.proc.wake("pod-not-ready")
        # the status says why nothing is done yet; then mysqld answers again, within the bound
        # of tries (each try costs connect_timeout against a hung server)
        await cg.h.wait_for(
            lambda: "unreachable" in getattr(cg.h.kube.condition(COND_HEALTHY), "message", ""),
            bound + 5,
            "the status says the primary is unreachable",
        )
        healthy = cg.h.kube.condition(COND_HEALTHY)
    finally:
        await asyncio.to_thread(cg.ms[0].resume)
    cg.h.kube.set_pod(0, ready=True)
    cg.h.proc.wake("pod-ready")
    await cg.h.wait_healthy(30)
    assert cg.h.primary == 0, "failed over on a primary that answered again within the bound"
    assert "FailOver" not in cg.h.kube.reasons()
    assert healthy is not None
    assert "unreachable" in healthy.message, healthy


async def test_a_dead_primary_is_failed_over_after_its_refusals(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    cfg = cg.h.proc.cfg
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.3)
        t0 = asyncio.get_running_loop().time()
        old = await fail_primary(cg)
        await cg.h.wait_for(lambda: cg.h.primary != old, 30, "failover")
        took = asyncio.get_running_loop().time() - t0
        await cg.h.wait_for(lambda: cg.h.state is ClusterState.DEGRADED, 30, "Degraded")
    # a killed mysqld refuses connections: the refusals confirm it (rule 1 of the evidence)
    assert cfg.refused_after <= took < cfg.failover_after + 10
    assert "refuses connections" in next(m for _, r, m in cg.h.kube.events if r == "FailOver")
    rep = await chk.verify(cg.admin(cg.h.primary))
    assert rep.ok, rep.describe()
