"""A replica whose connect to the primary fails at once is restarted at a bounded rate (mysql tier).

A replica set up to follow the primary whose IO thread failed its last connect is restarted
by ``configure`` so that it tries again now, not after ``SOURCE_CONNECT_RETRY`` (60 s). When
the connect fails at once (the primary's DNS name not resolvable yet: a new cluster on the
local cluster was Healthy only after 44 s instead of ~20 s; here: the replication account
locked, refused in a millisecond) each pass restarted it and asked for another pass at once:
about every 40 ms for as long as it failed. ``ProcessConfig.io_restart_every`` bounds it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from moco import constants
from moco.mysql.conn import Endpoint, connect

from ..fixtures.clustering import FAST, ClusterFactory

pytestmark = pytest.mark.mysql

#: the server's "Error connecting to source" (one per failed connect of the IO thread)
CONNECT_ERROR = "MY-010584"


async def connect_errors(ep: Endpoint) -> int:
    async with await connect(ep) as c:
        rows = await c.query(
            "SELECT COUNT(*) AS n FROM performance_schema.error_log WHERE ERROR_CODE = %s", (CONNECT_ERROR,)
        )
    return int(rows[0]["n"])


async def set_repl_account(ep: Endpoint, *, locked: bool) -> None:
    async with await connect(ep) as c:
        await c.execute("SET sql_log_bin = 0")
        await c.execute(
            f"ALTER USER %s@'%%' ACCOUNT {'LOCK' if locked else 'UNLOCK'}", (constants.REPLICATION_USER,)
        )


async def test_a_replica_failing_to_connect_is_restarted_at_most_every_io_restart_every(
    cluster_ground: ClusterFactory,
) -> None:
    # passes as often as a connect that fails in a millisecond made them on the local cluster
    cg = await cluster_ground(2, cfg=replace(FAST, connecting_recheck=0.05))
    await cg.h.wait_healthy(60)
    p = cg.h.primary
    r = 1 - p
    every = cg.h.proc.cfg.io_restart_every
    await set_repl_account(cg.admin(p), locked=True)
    try:
        # the replica loses its connection: every connect it makes from now on is refused at once
        async with await connect(cg.admin(r)) as c:
            await c.execute("STOP REPLICA IO_THREAD")
        before = await connect_errors(cg.admin(r))
        window = 4.0
        await asyncio.sleep(window)
        tries = await connect_errors(cg.admin(r)) - before
        assert tries >= 2, f"the replica was not restarted while its connect failed ({tries} tries)"
        bound = window / every + 2
        assert tries <= bound, f"{tries} connects in {window} s: restarted more often than every {every} s"
    finally:
        await set_repl_account(cg.admin(p), locked=False)
    # it follows again within about one restart period once the connect can succeed
    await cg.h.wait_healthy(every + 5)
