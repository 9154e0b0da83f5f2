"""The user set-up survives the operator turning super_read_only back on meanwhile (mysql tier).

The operator fences every replica it finds without super_read_only; it may find an instance in
the moment the agent's set-up lifted it. A user created without its grants would stay so (the
set-up creates missing users and leaves existing ones), as seen in e2e: ``moco-readonly`` could
not SELECT on one instance.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from moco import constants
from moco.mysql.conn import connect
from moco.mysql.errors import MySQLError
from unit_tests.agent.test_agent_mysql import MysqldFactory, ep, init_instance

pytestmark = pytest.mark.mysql


async def test_users_get_their_grants_while_read_only_keeps_coming_back(
    mysqld_factory: MysqldFactory,
) -> None:
    (m,) = await mysqld_factory(1)
    stop = asyncio.Event()
    fenced = 0

    async def fence() -> None:
        nonlocal fenced
        async with await connect(ep(m, constants.ADMIN_USER)) as c:
            while not stop.is_set():
                with contextlib.suppress(MySQLError):
                    await c.execute("SET GLOBAL super_read_only = ON")
                    fenced += 1
                await asyncio.sleep(0.002)

    fencer = asyncio.create_task(fence())
    try:
        await asyncio.sleep(0.05)
        await init_instance(m)
    finally:
        stop.set()
        await fencer
    assert fenced > 10
    async with await connect(ep(m, constants.READONLY_USER)) as c:
        await c.query("SELECT COUNT(*) AS n FROM mysql.user")  # SELECT ON *.* was granted
        grants = " ".join(str(next(iter(r.values()))) for r in await c.query("SHOW GRANTS"))
    assert "SELECT" in grants, grants
