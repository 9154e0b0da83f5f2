"""Replication between moco's instances is encrypted: the replica requires TLS of its source
(mysqld 9.7 serves it with the certificates it generated at its first start), and the source's
binlog dump thread talks TLS. ``tls=False`` (external sources) keeps MOCO's unencrypted
connection with GET_SOURCE_PUBLIC_KEY."""

from __future__ import annotations

import pytest

from moco.mysql import ops
from moco.mysql.conn import Connection, connect
from moco.mysql.status import get_status
from unit_tests.fixtures.mysqld import MysqldFactory
from unit_tests.mysql.helpers import REPL_PASSWORD, REPL_USER, create_repl_user, eventually, make_table

pytestmark = pytest.mark.mysql


async def _config(r: Connection) -> dict[str, object]:
    row = await r.query_one(
        "SELECT SSL_ALLOWED, GET_PUBLIC_KEY FROM performance_schema.replication_connection_configuration"
        " WHERE CHANNEL_NAME = ''"
    )
    assert row is not None
    return dict(row)


async def _dump_thread_tls(s: Connection) -> str:
    """The TLS version of the source's binlog dump connection ('' when it is not encrypted)."""
    row = await s.query_one(
        "SELECT sbt.VARIABLE_VALUE AS v FROM performance_schema.threads t"
        " JOIN performance_schema.status_by_thread sbt ON sbt.THREAD_ID = t.THREAD_ID"
        " WHERE t.PROCESSLIST_COMMAND LIKE 'Binlog Dump%%' AND sbt.VARIABLE_NAME = 'Ssl_version'"
    )
    return "" if row is None else str(row["v"] or "")


@pytest.mark.parametrize("tls", [True, False], ids=["between-instances", "external-source"])
async def test_replication_tls(mysqld_factory: MysqldFactory, tls: bool) -> None:
    src, rep = await mysqld_factory(2)
    s: Connection = await connect(src.endpoint())
    r: Connection = await connect(rep.endpoint())
    try:
        await ops.set_writable(s)
        await create_repl_user(s)
        await ops.change_source(
            r, host=src.host, port=src.port, user=REPL_USER, password=REPL_PASSWORD, tls=tls
        )
        await ops.start_replica(r)
        await make_table(s, rows=3)
        sst = await get_status(s)

        async def caught_up() -> bool:
            return await ops.wait_for_gtid(r, sst.gtid_executed, timeout=1)

        await eventually(caught_up, what="replica caught up")
        config = await _config(r)
        version = await _dump_thread_tls(s)
        if tls:
            assert config == {"SSL_ALLOWED": "YES", "GET_PUBLIC_KEY": "NO"}
            assert version.startswith("TLSv1."), version
        else:
            assert config == {"SSL_ALLOWED": "NO", "GET_PUBLIC_KEY": "YES"}
            assert version == ""
    finally:
        await s.close()
        await r.close()
