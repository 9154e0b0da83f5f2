"""A switchover finishes while clients hold read-only back (mysql tier).

``SET GLOBAL super_read_only`` waits for transactions that wrote and for a global read lock.
The switchover must kill such clients after ``switchover_kill_after`` and keep waiting, even when
that bound is longer than the timeout of an ordinary statement (``query_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import pytest

from moco.mysql.conn import connect
from moco.mysql.errors import MySQLError

from ..fixtures.clustering import FAST, ClusterFactory, ClusterGround

pytestmark = pytest.mark.mysql

#: read-only waits longer than one ordinary statement may take
CFG = replace(FAST, query_timeout=1.5, switchover_kill_after=3.0)


async def _switch_while(cg: ClusterGround, stmt: asyncio.Future[object]) -> float:
    try:
        await asyncio.sleep(0.3)
        t0 = asyncio.get_running_loop().time()
        cg.h.kube.set_pod(0, demote=True)
        cg.h.proc.wake("demote")
        await cg.h.wait_for(lambda: cg.h.primary == 1, 25, "switchover")
        return asyncio.get_running_loop().time() - t0
    finally:
        stmt.cancel()
        with contextlib.suppress(BaseException):
            await stmt


async def test_switchover_completes_while_a_writing_transaction_sleeps(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3, cfg=CFG)
    await cg.h.wait_healthy(60)
    async with await connect(cg.primary_endpoint()) as c:
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE IF NOT EXISTS app.hold (id INT PRIMARY KEY)")
    blocker = await connect(cg.app_endpoint(0), query_timeout=60)
    await blocker.execute("BEGIN")
    await blocker.execute("INSERT INTO app.hold VALUES (1)")
    # a write that runs long holds the global intention lock read-only waits for (an idle
    # transaction, or a plain SELECT SLEEP in it, does not: its commit would simply fail)
    stmt = asyncio.ensure_future(
        blocker.execute("INSERT INTO app.hold SELECT 2 FROM DUAL WHERE SLEEP(30) = 0")
    )
    try:
        took = await _switch_while(cg, stmt)
    finally:
        await blocker.close()
    assert CFG.switchover_kill_after <= took < CFG.switchover_kill_after + 10
    async with await connect(cg.admin(1)) as c:
        rows = await c.query("SELECT COUNT(*) AS n FROM app.hold")
    assert rows[0]["n"] == 0, "the killed transaction was rolled back, not moved"
    assert "SwitchOver" in cg.h.kube.reasons()


async def test_switchover_completes_while_a_client_holds_a_global_read_lock(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3, cfg=CFG)
    await cg.h.wait_healthy(60)
    async with await connect(cg.admin(0)) as c:
        await c.execute("CREATE USER IF NOT EXISTS locker@'%' IDENTIFIED BY 'locker-pw'")
        await c.execute("GRANT RELOAD ON *.* TO locker@'%'")
    blocker = await connect(cg.ms[0].endpoint("locker", "locker-pw"), query_timeout=60)
    await blocker.execute("FLUSH TABLES WITH READ LOCK")
    stmt: asyncio.Future[object] = asyncio.ensure_future(blocker.execute("SELECT SLEEP(30)"))
    try:
        took = await _switch_while(cg, stmt)
        # the lock's holder was killed: it would otherwise keep the new replica's applier waiting
        with pytest.raises(MySQLError):
            await blocker.execute("SELECT 1")
    finally:
        await blocker.close()
    assert took < 15
    await cg.h.wait_healthy(30)
