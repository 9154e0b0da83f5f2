"""A source and a replica pointed by the mysql layer: GTID replication and semi-sync ACKs."""

from __future__ import annotations

import asyncio
import time

import pytest

from moco.constants import SYSTEM_USERS
from moco.mysql import ops
from moco.mysql.conn import Connection, connect
from moco.mysql.errors import MySQLError
from moco.mysql.status import get_status
from unit_tests.fixtures.mysqld import MysqldFactory
from unit_tests.mysql.helpers import REPL_PASSWORD, REPL_USER, create_repl_user, eventually, make_table

pytestmark = pytest.mark.mysql


async def test_semisync_replication(mysqld_factory: MysqldFactory) -> None:
    src, rep = await mysqld_factory(2)
    s: Connection = await connect(src.endpoint())
    r: Connection = await connect(rep.endpoint())
    try:
        for c in (s, r):
            await ops.install_plugins(c)
        await ops.set_writable(s)
        await create_repl_user(s)
        await ops.configure_semisync_source(s, enabled=True, wait_count=1, timeout_ms=60_000)
        await ops.configure_semisync_replica(r, enabled=True)

        for _ in range(2):  # idempotent
            await ops.change_source(r, host=src.host, port=src.port, user=REPL_USER, password=REPL_PASSWORD)
            await ops.start_replica(r)

        async def acked() -> bool:
            return (await get_status(s)).semi_sync_source_clients == 1

        await eventually(acked, what="replica connected as a semi-sync client")
        before = (await get_status(s)).semi_sync_source_yes_tx
        await make_table(s, rows=5)
        sst = await get_status(s)
        assert sst.semi_sync_source_yes_tx >= before + 7  # every commit was acknowledged
        assert await ops.wait_for_gtid(r, sst.gtid_executed, timeout=10)

        rst = await get_status(r)
        assert rst.replica is not None
        assert (rst.replica.source_host, rst.replica.source_port) == (src.host, src.port)
        assert rst.replica.io_running == "Yes"
        assert rst.replica.sql_running
        assert rst.replica.io_ok
        assert rst.replica.last_io_errno == 0
        assert rst.replica.last_sql_errno == 0
        assert sst.gtid_executed <= rst.gtid_executed
        assert rst.replica.retrieved_gtid_set == sst.gtid_executed
        assert rst.replica.executed_gtid_set == rst.gtid_executed
        assert rst.replica.seconds_behind_source is not None
        assert rst.replica.seconds_behind_source <= 5  # caught up (rounding may show a second or so)
        assert rst.super_read_only
        assert await r.query("SELECT COUNT(*) AS n FROM app.t") == [{"n": 5}]
        assert [(x.server_id, x.host, x.port) for x in sst.connected_replicas] == [
            (rep.server_id, rep.host, rep.port)
        ]

        # turning semi-sync off on the replica restarts its IO thread: the source loses its client
        await ops.configure_semisync_replica(r, enabled=False)

        async def no_client() -> bool:
            return (await get_status(s)).semi_sync_source_clients == 0

        await eventually(no_client, what="semi-sync client gone")
        assert (await get_status(r)).replica.io_running == "Yes"  # type: ignore[union-attr]
        await ops.configure_semisync_replica(r, enabled=True)
        await eventually(acked, what="semi-sync client back")

        await ops.stop_io_thread(r)
        rst = await get_status(r)
        assert rst.replica is not None
        assert rst.replica.io_running == "No"
        assert rst.replica.sql_running
        await ops.stop_replica(r)
        await ops.stop_replica(r)
        rst = await get_status(r)
        assert rst.replica is not None
        assert not rst.replica.sql_running

        await ops.start_replica(r)
        await ops.change_source(r, host=src.host, port=src.port, user=REPL_USER, password=REPL_PASSWORD)
        rst = await get_status(r)
        assert rst.replica is not None
        assert rst.replica.io_running == "No"  # change_source stops a running replica
        await ops.reset_replica_all(r)
        await ops.reset_replica_all(r)
        assert (await get_status(r)).replica is None
    finally:
        await s.close()
        await r.close()


async def test_replica_reports_io_error(mysqld_factory: MysqldFactory) -> None:
    src, rep = await mysqld_factory(2)
    async with await connect(rep.endpoint()) as r:
        await ops.change_source(r, host=src.host, port=src.port, user=REPL_USER, password="wrong")
        await ops.start_replica(r)

        async def failing() -> bool:
            st = (await get_status(r)).replica
            return st is not None and st.last_io_errno != 0

        await eventually(failing, what="IO thread error reported")
        st = (await get_status(r)).replica
        assert st is not None
        assert not st.io_ok
        assert st.last_io_errno == 1045  # access denied
        assert "wrong" not in st.last_io_error
        await ops.reset_replica_all(r)


async def test_a_fence_releases_a_commit_hung_on_acknowledgements_without_acknowledging_it(
    mysqld_factory: MysqldFactory,
) -> None:
    """A former primary whose replica left (a failover stopped its IO thread) has a commit
    waiting for an acknowledgement, and a read-only request waiting behind it:
    ``ops.release_until_read_only`` kills the client, then releases the commit; read-only lands,
    the client never saw its commit acknowledged, and wait_no_replica is on again."""
    src, rep = await mysqld_factory(2)
    async with await connect(src.endpoint()) as s, await connect(rep.endpoint()) as r:
        for c in (s, r):
            await ops.install_plugins(c)
        await ops.set_writable(s)
        await create_repl_user(s)
        await make_table(s, rows=1)
        await s.execute("CREATE USER 'app'@'%' IDENTIFIED BY 'pw-app'")
        await s.execute("GRANT ALL ON app.* TO 'app'@'%'")
        await ops.configure_semisync_source(s, enabled=True, wait_count=1, timeout_ms=3_600_000)
        await ops.configure_semisync_replica(r, enabled=True)
        await ops.change_source(r, host=src.host, port=src.port, user=REPL_USER, password=REPL_PASSWORD)
        await ops.start_replica(r)

        async def acked() -> bool:
            return (await get_status(s)).semi_sync_source_clients == 1

        await eventually(acked, what="replica connected as a semi-sync client")
        await ops.stop_io_thread(r)
        app = await connect(src.endpoint("app", "pw-app"), query_timeout=60)
        commit = asyncio.ensure_future(app.execute("INSERT INTO app.t (id) VALUES (1000)"))

        async def hung() -> bool:
            return (await get_status(s)).semi_sync_source_wait_sessions == 1

        await eventually(hung, what="the commit waits for an acknowledgement")
        fence = await connect(src.endpoint(), query_timeout=60)
        ro = asyncio.ensure_future(ops.set_read_only(fence, timeout=60))
        try:
            t0 = time.monotonic()
            async with asyncio.timeout(10):
                await ops.release_until_read_only(s, ro, spare_users=SYSTEM_USERS, poll=0.05)
            took = time.monotonic() - t0
            await ro
            with pytest.raises(MySQLError):
                await commit  # killed before it was released: never acknowledged
        finally:
            commit.cancel()
            ro.cancel()
            await app.close()
            await fence.close()
        st = await get_status(s)
        assert st.read_only
        assert st.super_read_only
        assert st.semi_sync_source_wait_no_replica, "wait_no_replica is on again"
        # its replica may keep its dump thread for up to a second (see release_until_read_only)
        assert took < 3, f"released after {took:.2f} s"
