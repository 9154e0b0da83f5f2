"""A backup packed while CLONE lands it (:mod:`moco.backup.streamcopy`), on a real mysqld under
writes: the copy restored is consistent (every table checks, an invariant every transaction
keeps holds) and holds a prefix of the writes, whatever the packers read before CLONE ended."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from pathlib import Path

import pytest

from moco.backup.backup import BackupRequest, run_backup
from moco.backup.bucket import Bucket
from moco.backup.layout import CLONE_MANIFEST, object_key
from moco.backup.restore import RestoreRequest, run_restore
from moco.backup.scratch import Tools
from moco.backup.streamcopy import FORMAT_PARTS, FORMAT_PATCHED
from moco.bench.backup import GroundTarget
from moco.mysql.conn import Endpoint, connect
from unit_tests.backup.test_backup_restore_mysql import _writable
from unit_tests.fixtures.mysqld import MysqldFactory

ROWS = 200_000


async def _writes(ep: Endpoint, stop: asyncio.Event) -> int:
    """Transactions that each add a log row and add 1 to a random counter of ``app.big``
    (SUM(c) = COUNT(log) in every consistent state); returns how many committed."""
    n = 0
    rng = random.Random(n)
    async with await connect(ep) as c:
        while not stop.is_set():
            await c.execute("BEGIN")
            await c.execute("INSERT INTO app.log (id) VALUES (%s)", (n,))
            await c.execute("UPDATE app.big SET c = c + 1 WHERE id = %s", (rng.randint(1, ROWS),))
            await c.execute("COMMIT")
            n += 1
    return n


@pytest.mark.mysql
@pytest.mark.slow
async def test_a_copy_streamed_under_writes_restores_consistent(
    mysqld_factory: MysqldFactory, backup_tools: Tools, local_bucket: Bucket, tmp_path: Path
) -> None:
    src, target = await mysqld_factory(2)
    await _writable(src)
    async with await connect(src.endpoint(), query_timeout=300) as c:
        await c.execute("SET SESSION cte_max_recursion_depth = %s", (ROWS,))
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.log (id INT PRIMARY KEY)")
        await c.execute("CREATE TABLE app.big (id INT PRIMARY KEY, c INT NOT NULL, pad CHAR(200))")
        await c.execute(
            "INSERT INTO app.big (id, c, pad) WITH RECURSIVE s (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s"
            f" WHERE i < {ROWS}) SELECT i, 0, SHA2(i, 256) FROM s"
        )
    stop = asyncio.Event()
    writer = asyncio.create_task(_writes(src.endpoint(), stop))
    try:
        await asyncio.sleep(0.5)
        r = await run_backup(
            BackupRequest("ns", "w", src.endpoint(), tmp_path / "b"), local_bucket, backup_tools
        )
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await writer
    written = writer.result()
    manifest = json.loads(await local_bucket.get_bytes(object_key("ns", "w", CLONE_MANIFEST, r.time)))
    assert manifest["format"] == (FORMAT_PATCHED if r.packed_again or manifest["removed"] else FORMAT_PARTS)
    assert len(manifest["patches"]) <= len(manifest["parts"]), "delta parts: at most one per part"

    await run_restore(
        RestoreRequest("ns", "w", r.time, target.endpoint(), tmp_path / "r", local=GroundTarget(target)),
        local_bucket,
        backup_tools,
    )
    async with await connect(target.endpoint(), query_timeout=300) as c:
        for table in ("app.big", "app.log"):
            row = await c.query_one(f"CHECK TABLE {table} EXTENDED")
            assert row is not None
            assert row["Msg_text"] == "OK", (table, row)
        log_ids = [int(x["id"]) for x in await c.query("SELECT id FROM app.log ORDER BY id")]
        total = await c.query_one("SELECT SUM(c) AS s, COUNT(*) AS n FROM app.big")
    assert total is not None
    assert int(total["n"]) == ROWS
    assert log_ids == list(range(len(log_ids))), "a prefix of the writes"
    assert 0 < len(log_ids) <= written
    assert int(total["s"]) == len(log_ids), "each transaction whole or not at all"
