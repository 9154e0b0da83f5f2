"""Pod deletion protection by the real loop over real mysqld (mysql tier).

A replica made to lag (``SOURCE_DELAY``) beyond ``maxDelaySecondsForPodDeletion`` gets the
primary's Pod annotated ``moco.cybozu.com/prevent-delete``, and a switchover asked meanwhile
with the demote annotation waits; once the replica catches up the annotation goes and the
switchover is done.
"""

from __future__ import annotations

import asyncio

import pytest

from moco.mysql.conn import Endpoint, connect

from ..fixtures.clustering import ClusterFactory, ClusterGround

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(180)]

BOUND = 2


async def _source_delay(ep: Endpoint, seconds: int) -> None:
    async with await connect(ep) as c:
        await c.execute("STOP REPLICA SQL_THREAD")
        await c.execute("CHANGE REPLICATION SOURCE TO SOURCE_DELAY = %s", (seconds,))
        await c.execute("START REPLICA SQL_THREAD")


async def _write(cg: ClusterGround) -> None:
    async with await connect(cg.primary_endpoint()) as c:
        await c.execute("CREATE TABLE IF NOT EXISTS app.t (id INT AUTO_INCREMENT PRIMARY KEY)")
        await c.execute("INSERT INTO app.t VALUES ()")


async def test_lagging_replica_protects_the_primary_pod_and_holds_a_switchover(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3, max_delay_seconds_for_pod_deletion=BOUND)
    h = cg.h
    await h.wait_healthy(60)
    async with await connect(cg.admin(0)) as c:
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
    assert not h.kube.pod(0).prevent_delete

    await _source_delay(cg.admin(2), 600)
    await _write(cg)
    await h.wait_for(lambda: h.kube.pod(0).prevent_delete, 30, "the primary's Pod annotated")
    assert not any(h.kube.pod(i).prevent_delete for i in (1, 2))

    h.kube.set_pod(0, demote=True)
    h.proc.wake("demote")
    await asyncio.sleep(3)  # several passes (the loopback config passes every second or sooner)
    assert h.primary == 0
    assert h.kube.pod(0).demote

    await _source_delay(cg.admin(2), 0)
    await h.wait_for(lambda: h.primary != 0, 30, "the switchover after the catch-up")
    await h.wait_for(lambda: not h.kube.pod(0).prevent_delete, 30, "the annotation removed")
    assert not any(h.kube.pod(i).prevent_delete for i in range(3))
