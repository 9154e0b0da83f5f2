"""moco.mysql.conn against real mysqld: errors are mapped, every wait is bounded."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import time

import pytest

from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import AccessDenied, SQLError, Timeout, Unreachable
from moco.testing.mysqld import HOST
from unit_tests.fixtures.mysqld import MysqldFactory

pytestmark = pytest.mark.mysql

SLACK = 1.0  # seconds a bounded call may exceed its timeout (scheduling on 2 busy cores)


async def test_query_execute_and_errors(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as c:
        rows = await c.query("SELECT @@server_id AS id, @@port AS port, %s AS echo", ("x'y",))
        assert rows == [{"id": m.server_id, "port": m.port, "echo": "x'y"}]
        assert await c.query_one("SELECT 1 AS one WHERE 1 = 0") is None
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("CREATE DATABASE t")
        await c.execute("CREATE TABLE t.x (id INT PRIMARY KEY)")
        assert await c.execute("INSERT INTO t.x VALUES (1), (2), (3)") == 3
        with pytest.raises(SQLError) as e:
            await c.query("SELEC 1")
        assert e.value.code == 1064
        # a server error leaves the connection usable
        assert c.thread_id > 0
        assert (await c.query_one("SELECT COUNT(*) AS n FROM t.x")) == {"n": 3}
    assert c.closed
    with pytest.raises(Unreachable):
        await c.query("SELECT 1")


async def test_access_denied_and_unreachable(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    with pytest.raises(AccessDenied) as e:
        await connect(m.endpoint(password="wrong"))
    assert e.value.code == 1045
    assert "wrong" not in str(e.value)
    m.stop()
    t0 = time.monotonic()
    with pytest.raises(Unreachable) as u:
        await connect(Endpoint(HOST, m.port, m.user, m.password), timeout=2)
    assert time.monotonic() - t0 < 2 + SLACK
    assert u.value.refused, "nothing listens on the port: the connection is refused"


async def test_a_killed_server_loses_the_connection_then_refuses(mysqld_factory: MysqldFactory) -> None:
    """A lost connection is no refusal (the server may be gone or a path broken); the next
    connect to a host whose mysqld is dead is one."""
    (m,) = await mysqld_factory(1)
    c = await connect(m.endpoint(), query_timeout=2)
    m.kill()
    with pytest.raises(Unreachable) as lost:
        await c.query("SELECT 1")
    assert not lost.value.refused
    with pytest.raises(Unreachable) as refused:
        await connect(m.endpoint(), timeout=2)
    assert refused.value.refused


async def test_statement_timeout_closes_the_connection(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    c = await connect(m.endpoint(), query_timeout=5)
    t0 = time.monotonic()
    with pytest.raises(Timeout, match=r"SELECT timed out after 0\.5s"):
        await c.query("SELECT SLEEP(10)", timeout=0.5)
    assert time.monotonic() - t0 < 0.5 + SLACK
    assert c.closed
    with pytest.raises(Unreachable):
        await c.query("SELECT 1")
    async with await connect(m.endpoint()) as c2:
        assert await c2.query("SELECT 1 AS x") == [{"x": 1}]


async def test_paused_server_fails_within_bounds(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    old = await connect(m.endpoint(), query_timeout=1.0)
    m.pause()
    try:
        t0 = time.monotonic()
        with pytest.raises(Timeout):
            await connect(m.endpoint(), timeout=1.0)
        assert time.monotonic() - t0 < 1.0 + SLACK
        t0 = time.monotonic()
        with pytest.raises(Timeout):
            await old.query("SELECT 1")
        assert time.monotonic() - t0 < 1.0 + SLACK
        assert old.closed
    finally:
        m.resume()
    async with await connect(m.endpoint(), timeout=5) as c:
        assert await c.query("SELECT 1 AS x") == [{"x": 1}]


async def test_tls(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed
    ep = Endpoint(m.host, m.port, m.user, m.password, ssl=ctx)
    async with await connect(ep) as c:
        row = await c.query_one("SHOW SESSION STATUS LIKE 'Ssl_version'")
        assert row is not None
        assert str(row["Value"]).startswith("TLS")


async def test_a_server_shutting_down_is_refused_at_once(mysqld_factory: MysqldFactory) -> None:
    """On SIGTERM (``kill 1`` in a container) mysqld closes its listener first and answers the
    statements of open connections with 1053 while it shuts down (seconds): both are refusals."""
    (m,) = await mysqld_factory(1)
    c = await connect(m.endpoint(), query_timeout=2)
    pid = m.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    await asyncio.sleep(0.2)  # the shutdown itself takes seconds
    with pytest.raises(Unreachable) as on_open:
        await c.query("SELECT 1")
    assert on_open.value.refused, on_open.value
    with pytest.raises(Unreachable) as on_connect:
        await connect(m.endpoint(), timeout=2)
    assert on_connect.value.refused
