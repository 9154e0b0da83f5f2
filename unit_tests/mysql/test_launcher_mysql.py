"""The mysqld launcher: distinct instances, stop/kill/start keep data, exit 16 restarts, nothing survives."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from moco.mysql.conn import connect
from moco.mysql.errors import Unreachable
from moco.testing import ground
from moco.testing.mysqld import MysqldGround
from unit_tests.fixtures.mysqld import MysqldFactory

pytestmark = pytest.mark.mysql


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


async def test_instances_are_distinct_and_configured(mysqld_factory: MysqldFactory) -> None:
    ms = await mysqld_factory(2)
    seen = []
    for m in ms:
        async with await connect(m.endpoint()) as c:
            row = await c.query_one(
                "SELECT @@server_uuid AS uuid, @@server_id AS sid, @@gtid_mode AS gtid,"
                " @@super_read_only AS sro, @@report_host AS rh, @@report_port AS rp,"
                " @@skip_replica_start AS srs, @@global.binlog_format AS bf, @@log_replica_updates AS lru,"
                " @@admin_port AS ap, @@gtid_executed AS ge"
            )
            assert row is not None
            plugins = await c.query(
                "SELECT PLUGIN_NAME FROM information_schema.plugins"
                " WHERE PLUGIN_NAME IN ('clone', 'rpl_semi_sync_source', 'rpl_semi_sync_replica')"
            )
        assert row["sid"] == m.server_id
        assert (row["gtid"], row["sro"], row["srs"], row["bf"], row["lru"]) == ("ON", 1, 1, "ROW", 1)
        assert (row["rh"], row["rp"], row["ap"]) == (m.host, m.port, m.admin_port)
        assert row["ge"] == ""
        assert plugins == []  # installing them is the mysql layer's job
        async with await connect(m.admin_endpoint()) as c:
            assert await c.query("SELECT 1 AS x") == [{"x": 1}]
        seen.append((row["uuid"], m.server_id, m.port, m.admin_port, m.datadir))
    for i in range(5):
        assert len({s[i] for s in seen}) == 2


async def test_stop_kill_start_keep_the_data(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as c:
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("CREATE DATABASE d")
        await c.execute("CREATE TABLE d.t (id INT PRIMARY KEY)")
        await c.execute("INSERT INTO d.t VALUES (1)")
    await m.astop()
    assert not m.running
    with pytest.raises(Unreachable):
        await connect(m.endpoint(), timeout=2)
    m.start()
    await m.wait_ready()
    async with await connect(m.endpoint()) as c:
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("INSERT INTO d.t VALUES (2)")
    pid = m.pid
    assert pid is not None
    m.kill()
    assert not m.running
    m.start()
    await m.wait_ready()
    assert m.pid != pid
    async with await connect(m.endpoint()) as c:
        assert await c.query("SELECT id FROM d.t ORDER BY id") == [{"id": 1}, {"id": 2}]
        row = await c.query_one("SELECT @@super_read_only AS sro")
        assert row == {"sro": 1}  # every start is read-only


async def test_exit_16_is_restarted_by_the_supervisor(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    pid = m.pid
    async with await connect(m.endpoint()) as c:
        try:
            await c.execute("RESTART", timeout=10)
        except Unreachable:
            pass  # the server may drop the connection before answering
    for _ in range(300):  # the server answers RESTART before it goes down
        if m.restarts:
            break
        await asyncio.sleep(0.1)
    await m.wait_ready(30)
    assert m.restarts == 1
    assert m.last_exit == 16
    assert m.pid not in (None, pid)
    rec_pids = {r.pid for r in ground.recorded() if r.alive()}
    assert m.pid in rec_pids


async def test_close_leaves_no_process_behind() -> None:
    g = MysqldGround()
    try:
        ms = await g.start_instances(2)
        pids = [m.pid for m in ms]
        ms[0].pause()  # even a stopped process must go
    finally:
        g.close()
    assert not g.base.exists()
    for pid in pids:
        assert pid is not None
        assert _gone(pid)
    assert g.live_records() == []


async def test_a_taken_port_is_replaced(mysqld_ground: MysqldGround) -> None:
    m = mysqld_ground.new_instance(start=False)
    with socket.socket() as squatter:
        squatter.bind((m.host, m.port))
        squatter.listen()
        taken = m.port
        m.start()
        try:
            await mysqld_ground.ready(m, 30)
            assert m.port != taken
            async with await connect(m.endpoint()) as c:
                assert await c.query("SELECT @@port AS p") == [{"p": m.port}]
        finally:
            mysqld_ground.discard(m)
