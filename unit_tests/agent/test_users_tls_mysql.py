"""moco-repl authenticates over TLS only (the agent's set-up, rule 6 of moco.agent.users; mysql tier).

Created so on a fresh instance, altered so on one an older moco set up, without writing a GTID;
a replica set up as moco sets them up (``SOURCE_SSL = 1``) replicates, one that asks for no TLS
(MOCO's external-source path, which never uses this account) is refused.
"""

from __future__ import annotations

import ssl
from dataclasses import replace

import pytest

from moco import constants
from moco.mysql import ops
from moco.mysql.conn import Connection, connect
from moco.mysql.errors import AccessDenied
from moco.mysql.status import get_replica_status
from unit_tests.agent.test_agent_mysql import PASSWORDS, MysqldFactory, ep, init_instance
from unit_tests.mysql.helpers import eventually

pytestmark = pytest.mark.mysql

REPL = constants.REPLICATION_USER


def unverified() -> ssl.SSLContext:
    """TLS to a server that serves its own self-signed certificate (encryption, no identity)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def ssl_type(c: Connection, user: str) -> str:
    row = await c.query_one("SELECT ssl_type AS t FROM mysql.user WHERE User = %s AND Host = '%%'", (user,))
    assert row is not None
    return str(row["t"])


async def test_moco_repl_requires_tls_and_only_it(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    await init_instance(m)
    async with await connect(ep(m, constants.ADMIN_USER)) as c:
        assert await ssl_type(c, REPL) == "ANY"
        others = await c.query(
            "SELECT User FROM mysql.user WHERE Host = '%%' AND ssl_type <> '' AND User IN ({})".format(
                ", ".join(["%s"] * len(constants.ALL_USERS))
            ),
            tuple(constants.ALL_USERS),
        )
        assert [r["User"] for r in others] == [REPL]
    with pytest.raises(AccessDenied):
        await connect(ep(m, REPL))
    async with await connect(replace(ep(m, REPL), ssl=unverified())) as c:
        row = await c.query_one("SHOW SESSION STATUS LIKE 'Ssl_version'")
        assert row is not None
        assert str(row["Value"]).startswith("TLSv1.")


async def test_an_older_moco_repl_is_altered_at_the_next_start(mysqld_factory: MysqldFactory) -> None:
    (m,) = await mysqld_factory(1)
    await init_instance(m)
    async with await connect(ep(m, constants.ADMIN_USER)) as c:
        await c.execute("SET SESSION sql_log_bin = 0")
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("ALTER USER %s@'%%' REQUIRE NONE", (REPL,))
        await c.execute("SET GLOBAL super_read_only = ON")
        before = await c.query_one("SELECT @@global.gtid_executed AS g")
    result = await init_instance(m)
    assert REPL in result.repaired_users
    async with await connect(ep(m, constants.ADMIN_USER)) as c:
        assert await ssl_type(c, REPL) == "ANY"
        assert await c.query_one("SELECT @@global.gtid_executed AS g") == before  # no GTID written


async def test_replicas_as_moco_sets_them_up_replicate_and_clear_ones_are_refused(
    mysqld_factory: MysqldFactory,
) -> None:
    src, rep = await mysqld_factory(2)
    await init_instance(src)
    await init_instance(rep)
    for tls, ok in ((False, False), (True, True)):
        async with await connect(ep(rep, constants.ADMIN_USER)) as r:
            await ops.change_source(
                r, host=src.host, port=src.port, user=REPL, password=PASSWORDS[REPL], tls=tls
            )
            await ops.start_replica(r)

            async def settled() -> bool:
                rs = await get_replica_status(r)
                return rs is not None and (rs.io_running == "Yes" or rs.last_io_errno != 0)

            await eventually(settled, what=f"the IO thread connected or failed (tls={tls})")
            rs = await get_replica_status(r)
            assert rs is not None
            if ok:
                assert rs.io_running == "Yes", rs.last_io_error
            else:
                assert rs.last_io_errno == 1045, (rs.last_io_errno, rs.last_io_error)  # access denied
            await ops.stop_replica(r)
