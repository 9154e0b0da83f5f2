"""A replica the loop cannot configure never keeps a new primary closed (mysql tier).

A switchover or failover moves the primary; every replica is then pointed at the new one. One
replica whose server refuses or hangs the statements (here: ``LOCK INSTANCE FOR BACKUP`` held
on it, as a backup tool or a CLONE donor holds it, makes STOP REPLICA fail with error 3857)
used to fail the whole pass before the new primary was made writable, pass after pass: no
instance took writes although another replica acknowledged them. The primary opens once
``replicas // 2`` replicas are configured; the failing one is reported and configured when it
can be. When the failing replica is the only one left to acknowledge, the primary stays closed
(its commits could not be acknowledged), and opens once the replica follows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from moco.clustering.interfaces import EV_SET_WRITABLE
from moco.clustering.types import ClusterState
from moco.mysql.conn import Connection, connect
from moco.mysql.status import get_status
from moco.testing.checker import WriteChecker

from ..fixtures.clustering import ClusterFactory, ClusterGround, checker_for, fail_primary, verify_eventually

pytestmark = pytest.mark.mysql


@asynccontextmanager
async def replica_2_locked(
    cluster_ground: ClusterFactory,
) -> AsyncIterator[tuple[ClusterGround, WriteChecker, Connection]]:
    """A Healthy 3-instance cluster whose replica 2 holds ``LOCK INSTANCE FOR BACKUP`` (on the
    connection yielded, closed at the end), and a checker for its writes (not started)."""
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    lock = await connect(cg.admin(2))
    try:
        await lock.execute("LOCK INSTANCE FOR BACKUP")
        yield cg, checker_for(cg), lock
    finally:
        await lock.close()


async def test_a_replica_that_cannot_be_configured_does_not_keep_the_new_primary_closed(
    cluster_ground: ClusterFactory,
) -> None:
    async with replica_2_locked(cluster_ground) as (cg, chk, lock):
        async with chk:
            await asyncio.sleep(0.5)
            writable_events = cg.h.kube.reasons().count(EV_SET_WRITABLE)
            cg.h.kube.set_pod(0, demote=True)
            cg.h.proc.wake("demote")
            await cg.h.wait_for(lambda: cg.h.primary != 0, 30, "switchover")
            assert cg.h.primary == 1  # the lowest index among equals; 2 is the locked one
            await cg.h.wait_for(lambda: bool(chk.gaps()), 30, "writes on the new primary")
            assert cg.h.kube.reasons().count(EV_SET_WRITABLE) == writable_events + 1
            # the pass reports the replica it could not configure
            await cg.h.wait_for(lambda: "replica 2" in cg.h.proc.last.error, 30, "the failure reported")
            await lock.execute("UNLOCK INSTANCE")
            await cg.h.wait_healthy(30)
            await asyncio.sleep(0.5)
        rep = await chk.verify(cg.admin(1))
        assert rep.ok, rep.describe()
        for i in (0, 2):
            rep = await verify_eventually(chk, cg.admin(i))
            assert rep.ok, f"instance {i}: {rep.describe()}"
        async with await connect(cg.admin(2)) as c:
            st = await get_status(c)
        assert st.replica is not None
        assert st.replica.source_port == cg.ms[1].port


async def test_the_last_replica_able_to_acknowledge_opens_the_primary_once_it_follows(
    cluster_ground: ClusterFactory,
) -> None:
    async with replica_2_locked(cluster_ground) as (cg, chk, lock):
        async with chk:
            await asyncio.sleep(0.5)
            old = await fail_primary(cg)
            await cg.h.wait_for(lambda: cg.h.primary != old, 30, "failover")
            await cg.h.wait_for(lambda: "replica 2" in cg.h.proc.last.error, 30, "the failure reported")
            async with await connect(cg.admin(1)) as c:
                assert (await get_status(c)).super_read_only  # nobody could acknowledge a commit
            await lock.execute("UNLOCK INSTANCE")
            await cg.h.wait_for(lambda: bool(chk.gaps()), 30, "writes on the new primary")
            await cg.h.wait_for(lambda: cg.h.state is ClusterState.DEGRADED, 30, "Degraded")
            await asyncio.sleep(0.5)
        rep = await chk.verify(cg.admin(1))
        assert rep.ok, rep.describe()
        rep = await verify_eventually(chk, cg.admin(2))
        assert rep.ok, rep.describe()
