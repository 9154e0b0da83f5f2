"""Dual passwords on real mysqld 9.7: the window where both passwords work, the discard, and
replication moved to the new password while a source keeps committing."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from moco.mysql import dualpassword as dp
from moco.mysql import ops
from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import AccessDenied
from moco.mysql.status import get_status
from moco.testing.mysqld import Mysqld
from unit_tests.fixtures.mysqld import MysqldFactory
from unit_tests.mysql.helpers import REPL_PASSWORD, REPL_USER, create_repl_user, eventually, make_table

pytestmark = pytest.mark.mysql

USER = "moco-readonly"
OLD, NEW, OTHER = "old-pw-0123", "new-pw-4567", "third-pw-89ab"


def as_user(m: Mysqld, user: str, password: str) -> Endpoint:
    return Endpoint(m.host, m.port, user, password)


async def accepted(m: Mysqld, user: str, password: str) -> bool:
    try:
        async with await connect(as_user(m, user, password)) as c:
            await c.query_one("SELECT 1")
    except AccessDenied:
        return False
    return True


async def test_retain_then_discard_on_a_read_only_instance(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as c:
        await ops.set_writable(c)
        await c.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (USER, OLD))
        await c.execute("GRANT SELECT ON *.* TO %s@'%%'", (USER,))
        await ops.set_read_only(c)  # a replica: super_read_only
        gtid_before = (await get_status(c)).gtid_executed

        assert not await dp.has_dual_password(c, USER)
        async with dp.writes_allowed(c):
            assert await dp.retain_current_password(c, USER, NEW)
            # a retry after a crash must not push NEW into the secondary slot (OLD would be lost)
            assert not await dp.retain_current_password(c, USER, OTHER)
        assert await dp.has_dual_password(c, USER)
        assert await dp.users_with_dual_password(c, (USER, "nobody")) == [USER]
        st = await get_status(c)
        assert st.super_read_only, "super_read_only restored"
        assert st.gtid_executed == gtid_before, "ALTER USER made a GTID (sql_log_bin was on)"

    assert await accepted(m, USER, OLD)
    assert await accepted(m, USER, NEW)
    assert not await accepted(m, USER, OTHER)

    async with await connect(m.endpoint()) as c:
        async with dp.writes_allowed(c):
            assert await dp.discard_old_password(c, USER)
            assert not await dp.discard_old_password(c, USER)  # idempotent
        assert not await dp.has_dual_password(c, USER)
    assert not await accepted(m, USER, OLD)
    assert await accepted(m, USER, NEW)


async def test_writes_allowed_leaves_a_promoted_instance_writable(mysqld_factory: MysqldFactory) -> None:
    """A switchover that makes the instance primary while the ALTER USER runs is not undone."""
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as c, await connect(m.endpoint()) as other:
        await ops.set_read_only(c)
        async with dp.writes_allowed(c):
            await ops.set_writable(other)  # the clustering loop promotes it meanwhile
        st = await get_status(c)
        assert not st.read_only
        assert not st.super_read_only


async def _writer(src: Mysqld, stop: asyncio.Event, failures: list[str]) -> int:
    """Commit a row every few ms until ``stop``; returns how many were committed."""
    n = 0
    async with await connect(src.endpoint()) as c:
        while not stop.is_set():
            try:
                await c.execute("INSERT INTO app.w (v) VALUES (%s)", (n,))
                n += 1
            except Exception as e:  # counted, the test fails on any
                failures.append(type(e).__name__)
            await asyncio.sleep(0.005)
    return n


async def test_replication_moves_to_the_new_password_under_writes(mysqld_factory: MysqldFactory) -> None:
    src, rep = await mysqld_factory(2)
    s: Connection = await connect(src.endpoint())
    r: Connection = await connect(rep.endpoint())
    stop = asyncio.Event()
    failures: list[str] = []
    writer: asyncio.Task[int] | None = None
    try:
        for c in (s, r):
            await ops.install_plugins(c)
        await ops.set_writable(s)
        await create_repl_user(s)
        await make_table(s, rows=1)
        await s.execute("CREATE TABLE app.w (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        await ops.change_source(r, host=src.host, port=src.port, user=REPL_USER, password=REPL_PASSWORD)
        await ops.start_replica(r)
        await ops.set_read_only(r)
        await eventually(lambda: _io_running(r), what="replica connected")
        # the user exists on the replica through replication; rotation runs per instance
        await eventually(lambda: _user_exists(r, REPL_USER), what="the replication user replicated")
        writer = asyncio.create_task(_writer(src, stop, failures))

        for c in (s, r):
            async with dp.writes_allowed(c):
                assert await dp.retain_current_password(c, REPL_USER, NEW)
        assert await dp.replication_password_is(r, REPL_PASSWORD) is True
        assert await dp.replication_password_is(s, NEW) is None  # no source configured

        await dp.set_replication_password(r, NEW)
        assert await dp.replication_password_is(r, NEW) is True
        assert await dp.replication_password_is(r, REPL_PASSWORD) is False
        await eventually(lambda: _io_running(r), what="receiver reconnected with the new password")

        for c in (s, r):
            async with dp.writes_allowed(c):
                assert await dp.discard_old_password(c, REPL_USER)
        assert not await accepted(src, REPL_USER, REPL_PASSWORD)
        # the receiver's next connection authenticates with the new password
        await r.execute("STOP REPLICA IO_THREAD")
        await r.execute("START REPLICA IO_THREAD")
        await eventually(lambda: _io_running(r), what="receiver reconnected after the discard")
        await asyncio.sleep(0.3)
        stop.set()
        committed = await writer
        writer = None
        assert failures == []
        assert committed > 0
        sst = await get_status(s)
        assert await ops.wait_for_gtid(r, sst.gtid_executed, timeout=15)
        rst = await get_status(r)
        assert rst.replica is not None
        assert rst.replica.last_io_errno == 0
        assert rst.gtid_executed == sst.gtid_executed, "no errant transaction on the replica"
        assert rst.super_read_only
    finally:
        stop.set()
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer
        await s.close()
        await r.close()


async def _user_exists(c: Connection, user: str) -> bool:
    return await c.query_one("SELECT 1 AS x FROM mysql.user WHERE User = %s", (user,)) is not None


async def _io_running(r: Connection) -> bool:
    rs = (await get_status(r)).replica
    return rs is not None and rs.io_running == "Yes"
