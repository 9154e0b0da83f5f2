"""The binlog scan against files a real mysqld wrote: untagged and tagged GTIDs (MySQL 8.4+)."""

from __future__ import annotations

import pytest

from moco.backup.binlogfile import gtid_set, scan
from moco.mysql.conn import connect
from moco.mysql.gtid import GtidSet
from unit_tests.fixtures.mysqld import MysqldFactory


@pytest.mark.mysql
async def test_the_scan_finds_every_gtid_of_the_servers_binlogs_tagged_ones_too(
    mysqld_factory: MysqldFactory,
) -> None:
    # the archiver resumes after a failover with --exclude-gtids = what its scans found: a
    # tagged transaction the scan missed would be archived again, and its time not counted
    (m,) = await mysqld_factory(1)
    async with await connect(m.endpoint()) as c:
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("FLUSH BINARY LOGS")
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY)")
        for i, tag in enumerate(["", "nightly", "", "a_much_longer_tag_of_32_chars_xx", "nightly"]):
            await c.execute(f"SET gtid_next = 'AUTOMATIC{':' + tag if tag else ''}'")
            await c.execute("INSERT INTO app.t VALUES (%s)", (i,))
        await c.execute("SET gtid_next = 'AUTOMATIC'")
        logs = [str(r["Log_name"]) for r in await c.query("SHOW BINARY LOGS")]
        row = await c.query_one("SELECT @@global.gtid_executed AS g, @@global.gtid_purged AS p")
        await c.execute("FLUSH BINARY LOGS")
    assert row is not None
    # the files after the first flush hold every transaction but what the template had
    before = GtidSet.parse(str(row["p"]))
    found = GtidSet()
    times: list[int] = []
    tags: set[str] = set()
    for name in logs[1:]:
        sc = scan((m.datadir / name).read_bytes())
        found = found.union(gtid_set(sc.gtids))
        tags |= {tag for _, tag, _ in sc.gtids}
        times += [sc.first_time, sc.last_time]
    executed = GtidSet.parse(str(row["g"]))
    assert found.union(before) == executed, f"scanned {found}, executed {executed}"
    assert tags == {"", "nightly", "a_much_longer_tag_of_32_chars_xx"}
    assert all(times)
