"""Grants of existing users are repaired by the agent's set-up (mysql tier, real mysqld).

An instance set up by an older moco keeps the users it created: ``moco-exporter`` without
REPLICATION SLAVE (its ``slave_hosts`` collector failed at every scrape), a user created without
its grants when the operator's fencing raced the set-up, ``moco-writable`` without its partial
revokes on ``mysql.*``. The next start of the agent grants what is missing, on a read-only
replica as on the primary, without writing a GTID.
"""

from __future__ import annotations

import pytest

from moco import constants
from moco.mysql import ops
from moco.mysql.conn import Connection, connect
from unit_tests.agent.test_agent_mysql import MysqldFactory, ep, init_instance

pytestmark = pytest.mark.mysql

#: What moco-exporter held before REPLICATION SLAVE was added.
OLD_EXPORTER_GRANT = "GRANT SELECT, PROCESS, REPLICATION CLIENT ON *.* TO `moco-exporter`@`%`"


async def grants_of(c: Connection, user: str) -> list[str]:
    return [str(next(iter(r.values()))) for r in await c.query("SHOW GRANTS FOR %s@'%%'", (user,))]


async def state(c: Connection) -> tuple[str, bool, bool]:
    row = await c.query_one(
        "SELECT @@global.gtid_executed AS g, @@global.read_only AS ro, @@global.super_read_only AS sro"
    )
    assert row is not None
    return str(row["g"]), bool(int(row["ro"])), bool(int(row["sro"]))


async def age_users(c: Connection) -> None:
    """Take the users back to what older set-ups left, without a GTID."""
    await c.execute("SET SESSION sql_log_bin = 0")
    ro, sro = (await state(c))[1:]
    await c.execute("SET GLOBAL super_read_only = OFF")
    await c.execute("REVOKE REPLICATION SLAVE ON *.* FROM %s@'%%'", (constants.EXPORTER_USER,))
    await c.execute("REVOKE ALL ON *.* FROM %s@'%%'", (constants.READONLY_USER,))
    # moco-writable without its grant option, and without the partial revokes it was created
    # with (a grant on mysql.* lifts them)
    await c.execute("REVOKE GRANT OPTION ON *.* FROM %s@'%%'", (constants.WRITABLE_USER,))
    await c.execute("GRANT INSERT, UPDATE, DELETE, DROP ON mysql.* TO %s@'%%'", (constants.WRITABLE_USER,))
    if sro:
        await c.execute("SET GLOBAL super_read_only = ON")
    elif ro:
        await c.execute("SET GLOBAL read_only = ON")
    await c.execute("SET SESSION sql_log_bin = 1")


@pytest.mark.parametrize("role", ["replica", "primary"])
async def test_old_grants_are_repaired_at_the_next_start(mysqld_factory: MysqldFactory, role: str) -> None:
    (m,) = await mysqld_factory(1)
    await init_instance(m)
    admin = ep(m, constants.ADMIN_USER)
    async with await connect(admin) as c:
        if role == "primary":
            await ops.set_writable(c)
            await c.execute("CREATE DATABASE app")  # a GTID the repair must not add to
        await age_users(c)
        assert await grants_of(c, constants.EXPORTER_USER) == [OLD_EXPORTER_GRANT]
        before = await state(c)
    assert before[2] is (role == "replica")

    result = await init_instance(m)

    async with await connect(admin) as c:
        assert await state(c) == before  # no GTID written, read-only state as it was
        exporter = await grants_of(c, constants.EXPORTER_USER)
        assert "REPLICATION SLAVE" in exporter[0], exporter
        writable = await grants_of(c, constants.WRITABLE_USER)
        assert any(g.startswith("REVOKE") and "ON `mysql`.*" in g and "INSERT" in g for g in writable), (
            writable
        )
        assert writable[0].endswith("WITH GRANT OPTION"), writable
    async with await connect(ep(m, constants.EXPORTER_USER)) as c:
        await c.query("SHOW REPLICAS")  # what the slave_hosts collector runs
    async with await connect(ep(m, constants.READONLY_USER)) as c:
        await c.query("SELECT COUNT(*) AS n FROM mysql.user")
    async with await connect(ep(m, constants.WRITABLE_USER)) as c:
        row = await c.query_one("SELECT COUNT(*) AS n FROM mysql.user")  # SELECT is not revoked
        assert row is not None
    assert set(result.repaired_users) == {
        constants.EXPORTER_USER,
        constants.READONLY_USER,
        constants.WRITABLE_USER,
    }

    again = await init_instance(m)
    assert again.repaired_users == ()
