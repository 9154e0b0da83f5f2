"""A failover whose first candidate cannot apply what it received (mysql tier).

The most advanced replica may have a broken applier (Last_SQL_Errno set): waiting for it to
apply would hold the cluster without a primary for the whole ``failover_wait``. The failover
watches the applier and takes another replica that holds everything instead.
"""

from __future__ import annotations

import asyncio

import pytest

from moco.mysql.conn import connect
from moco.mysql.status import get_status

from ..fixtures.clustering import ClusterFactory, fail_primary

pytestmark = pytest.mark.mysql


async def test_failover_skips_a_candidate_whose_applier_is_broken(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    async with await connect(cg.primary_endpoint()) as c:
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE IF NOT EXISTS app.a (id INT PRIMARY KEY)")
        await c.execute("INSERT INTO app.a VALUES (1)")
    await cg.h.wait_healthy(30)
    # instance 1 holds a row the primary will write too: its applier stops on a duplicate key
    async with await connect(cg.admin(1)) as c:
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("SET SESSION sql_log_bin = 0")
        await c.execute("INSERT INTO app.a VALUES (5)")
        await c.execute("SET GLOBAL super_read_only = ON")
    async with await connect(cg.primary_endpoint()) as c:
        await c.execute("INSERT INTO app.a VALUES (5)")
    async with await connect(cg.admin(1)) as c:
        for _ in range(100):
            st = await get_status(c)
            if st.replica is not None and st.replica.last_sql_errno:
                break
            await asyncio.sleep(0.05)
    assert st.replica is not None
    assert st.replica.last_sql_errno == 1062, st.replica
    t0 = asyncio.get_running_loop().time()
    await fail_primary(cg)
    await cg.h.wait_for(lambda: cg.h.primary == 2, 30, "failover to the replica that can apply")
    took = asyncio.get_running_loop().time() - t0
    assert took < 20, took
    async with await connect(cg.admin(2)) as c:
        rows = await c.query("SELECT COUNT(*) AS n FROM app.a")
    assert rows[0]["n"] == 2
