"""moco.mysql.ops and get_status on one real mysqld: read-only, plugins, kill, binlog reset, waits."""

from __future__ import annotations

import asyncio
import time

import pytest

from moco.constants import AGENT_USER, SYSTEM_USERS
from moco.mysql import ops
from moco.mysql.conn import connect
from moco.mysql.errors import SQLError, Unreachable
from moco.mysql.gtid import GtidSet
from moco.mysql.status import get_status
from unit_tests.fixtures.mysqld import MysqldFactory
from unit_tests.mysql.helpers import make_table

pytestmark = pytest.mark.mysql


async def test_status_without_plugins_then_install_plugins(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as c:
        st = await get_status(c)
        assert st.super_read_only
        assert st.read_only
        assert not st.semi_sync_source_enabled
        assert not st.semi_sync_replica_enabled
        assert st.semi_sync_source_clients == 0
        assert st.clone is None
        assert st.replica is None
        assert st.connected_replicas == ()
        assert st.gtid_executed == GtidSet()
        assert len(st.server_uuid) == 36
        with pytest.raises(SQLError):
            await ops.configure_semisync_source(c, enabled=True)

        await ops.install_plugins(c)  # under super_read_only
        await ops.install_plugins(c)  # idempotent
        rows = await c.query(
            "SELECT PLUGIN_NAME AS n, PLUGIN_STATUS AS s FROM information_schema.plugins"
            " WHERE PLUGIN_NAME IN ('clone', 'rpl_semi_sync_source', 'rpl_semi_sync_replica') ORDER BY 1"
        )
        assert rows == [
            {"n": "clone", "s": "ACTIVE"},
            {"n": "rpl_semi_sync_replica", "s": "ACTIVE"},
            {"n": "rpl_semi_sync_source", "s": "ACTIVE"},
        ]
        st = await get_status(c)
        assert st.super_read_only  # restored
        assert st.gtid_executed == GtidSet()  # INSTALL PLUGIN is not binlogged

        await ops.configure_semisync_source(c, enabled=True, wait_count=2, timeout_ms=1234)
        await ops.configure_semisync_source(c, enabled=True, wait_count=2, timeout_ms=1234)
        await ops.configure_semisync_replica(c, enabled=True)
        st = await get_status(c)
        assert st.semi_sync_source_enabled
        assert st.semi_sync_source_wait_count == 2
        assert st.semi_sync_source_timeout_ms == 1234
        assert st.semi_sync_replica_enabled
        assert st.semi_sync_source_wait_no_replica
        # a fence may leave it off; enabling semi-sync turns it on again
        await c.execute("SET GLOBAL rpl_semi_sync_source_wait_no_replica = OFF")
        assert not (await get_status(c)).semi_sync_source_wait_no_replica
        await ops.configure_semisync_source(c, enabled=True, wait_count=2, timeout_ms=1234)
        assert (await get_status(c)).semi_sync_source_wait_no_replica
        await ops.configure_semisync_source(c, enabled=False)
        await ops.configure_semisync_replica(c, enabled=False)
        st = await get_status(c)
        assert not st.semi_sync_source_enabled
        assert st.semi_sync_source_timeout_ms == ops.DEFAULT_SEMISYNC_TIMEOUT_MS
        assert not st.semi_sync_replica_enabled
    # plugins survive a restart (they are in mysql.plugin)
    await m.arestart()
    async with await connect(m.endpoint()) as c:
        st = await get_status(c)
        assert st.semi_sync_source_wait_count == 1  # a default again: SET GLOBAL is not persisted
        assert st.clone is None  # the table exists now, but no clone ran


async def test_read_only_and_writable(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as c:
        for _ in range(2):
            await ops.set_writable(c)
            st = await get_status(c)
            assert (st.read_only, st.super_read_only) == (False, False)
        await make_table(c)
        for _ in range(2):
            await ops.set_read_only(c, super_read_only=False)
            st = await get_status(c)
            assert (st.read_only, st.super_read_only) == (True, False)
        await c.execute("INSERT INTO app.t VALUES (100, 'admin may write')")  # SUPER bypasses read_only
        for _ in range(2):
            await ops.set_read_only(c)
            st = await get_status(c)
            assert (st.read_only, st.super_read_only) == (True, True)
        with pytest.raises(SQLError) as e:
            await c.execute("INSERT INTO app.t VALUES (101, 'refused')")
        assert e.value.code == 1290
        assert st.gtid_executed.count() == 6  # database, table, 3 rows, 1 admin row
        assert st.gtid_executed.uuids() == {st.server_uuid}


async def test_reset_binary_logs_and_gtids(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as c:
        await ops.set_writable(c)
        await make_table(c, rows=1)
        assert (await get_status(c)).gtid_executed
        await ops.reset_binary_logs_and_gtids(c)
        await ops.reset_binary_logs_and_gtids(c)
        st = await get_status(c)
        assert st.gtid_executed == GtidSet()
        assert st.gtid_purged == GtidSet()
        rows = await c.query("SHOW BINARY LOGS")
        assert len(rows) == 1


async def test_wait_for_gtid(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as c:
        await ops.set_writable(c)
        await make_table(c, rows=1)
        mine = (await get_status(c)).gtid_executed
        assert await ops.wait_for_gtid(c, mine, timeout=1)
        assert await ops.wait_for_gtid(c, GtidSet(), timeout=1)
        foreign = GtidSet.parse("11111111-2222-3333-4444-555555555555:1")
        t0 = time.monotonic()
        assert not await ops.wait_for_gtid(c, mine | foreign, timeout=0.5)
        assert time.monotonic() - t0 < 0.5 + 1.0


async def test_kill_connections_spares_system_users(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as admin:
        await ops.set_writable(admin)
        for user in (AGENT_USER, "app"):
            await admin.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
            await admin.execute(f"GRANT SELECT ON *.* TO '{user}'@'%'")
        agent = await connect(m.endpoint(AGENT_USER, f"pw-{AGENT_USER}"))
        apps = [await connect(m.endpoint("app", "pw-app")) for _ in range(3)]
        other_admin = await connect(m.endpoint())
        try:
            killed = await ops.kill_connections(admin, spare_users=SYSTEM_USERS)
            assert killed == 3
            for a in apps:
                with pytest.raises(Unreachable):
                    await a.query("SELECT 1")
            assert await agent.query("SELECT 1 AS x") == [{"x": 1}]
            assert await other_admin.query("SELECT 1 AS x") == [{"x": 1}]
            assert await admin.query("SELECT 1 AS x") == [{"x": 1}]
            assert await ops.kill_connections(admin, spare_users=SYSTEM_USERS) == 0
            # without sparing, the other admin connection goes too (never our own)
            assert await ops.kill_connections(admin, spare_users=()) == 2
        finally:
            for x in (agent, other_admin, *apps):
                await x.close()


async def test_processlist_rows_name_the_running_statement_and_feed_the_kill(
    mysqld_factory: MysqldFactory,
) -> None:
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as admin:
        await ops.set_writable(admin)
        await admin.execute("CREATE USER 'app'@'%' IDENTIFIED BY 'pw-app'")
        await admin.execute("GRANT SELECT ON *.* TO 'app'@'%'")
        app = await connect(m.endpoint("app", "pw-app"), query_timeout=30)
        sleeping = asyncio.ensure_future(app.query("SELECT SLEEP(20)"))
        try:
            for _ in range(100):
                rows = await admin.query(ops.PROCESSLIST_SQL)
                if ops.runs(rows, "SELECT SLEEP("):
                    break
                await asyncio.sleep(0.02)
            assert ops.runs(rows, "SELECT SLEEP(")
            assert not ops.runs(rows, ops.SUPER_READ_ONLY_SQL)
            assert await ops.kill_connections(admin, spare_users=SYSTEM_USERS, rows=rows) == 1
            with pytest.raises(Unreachable):
                await sleeping
        finally:
            sleeping.cancel()
            await app.close()
