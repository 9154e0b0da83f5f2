"""The in-place restore (:mod:`moco.backup.inplace`) on real mysqld and a real bucket: exact point
in time, moco's users carried, a schema restore, a corrupted object refused with the target
untouched (rule 1), and restores interrupted at each step then run again (rule 3)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from moco import constants
from moco.backup.backup import BackupRequest, BackupResult, BinlogRange, run_backup
from moco.backup.bucket import Bucket
from moco.backup.errors import BackupError
from moco.backup.inplace import state_dir
from moco.backup.restore import RestoreRequest, run_restore
from moco.backup.scratch import Tools
from moco.bench.backup import GroundTarget
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import AccessDenied, MySQLError
from moco.mysql.gtid import GtidSet
from moco.testing.mysqld import Mysqld
from moco.testing.objectstore import ObjectStore
from unit_tests.backup.test_backup_restore_mysql import (
    _moco_users,
    _writable,
    gtid,
    insert,
    next_second,
    over_tls,
    rows,
    s3_bucket,
)
from unit_tests.fixtures.mysqld import MysqldFactory
from unit_tests.mysql.helpers import eventually


async def _source_with_two_batches(
    src: Mysqld, bucket: Bucket, tools: Tools, work: Path, ns: str
) -> tuple[Endpoint, BackupResult, datetime]:
    """A source with moco's users (passwords ``src-*``), a backup after rows 0-19, rows 20-49
    before a point, rows 50-79 after it, and a second backup carrying the binlogs."""
    await _writable(src)
    admin = await _moco_users(src, "src")
    async with await connect(admin) as c:
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(32))")
        await c.execute("CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'")
        await c.execute("GRANT ALL ON app.* TO 'app'@'%'")
    await insert(admin, range(20))
    r1 = await run_backup(BackupRequest(ns, "c", admin, work / "b1"), bucket, tools)
    await insert(admin, range(20, 50))
    point = await next_second()
    await insert(admin, range(50, 80))
    await asyncio.sleep(1.0)
    rng = BinlogRange(start_file=r1.binlog_filename, exclude_gtids=r1.gtid_set, last_time=r1.time)
    await run_backup(BackupRequest(ns, "c", admin, work / "b2", binlogs=rng), bucket, tools)
    return admin, r1, point


async def _target(mysqld_factory: MysqldFactory) -> tuple[Mysqld, Endpoint, str]:
    """A target with moco's users as its agent makes them (passwords ``target-*``), read-only;
    its moco-admin endpoint and server_uuid."""
    (t,) = await mysqld_factory(1)
    admin = await _moco_users(t, "target")
    async with await connect(admin) as c:
        await c.execute("SET GLOBAL super_read_only = ON")
        row = await c.query_one("SELECT @@server_uuid AS u")
    assert row is not None
    return t, admin, str(row["u"])


async def _assert_target_owns(t: Mysqld, admin: Endpoint, uuid: str) -> None:
    """moco's users have the target's passwords, the application's the source's; the target
    kept its server_uuid and is super_read_only; nothing of the restore is left beside it."""
    for user in (constants.AGENT_USER, constants.REPLICATION_USER, constants.ADMIN_USER):
        async with await connect(over_tls(t.endpoint(user, f"target-{user}"))) as c:
            await c.query("SELECT 1")
        with pytest.raises(AccessDenied):
            await connect(over_tls(t.endpoint(user, f"src-{user}")))
    async with await connect(t.endpoint("app", "app-pw")) as c:
        await c.query("SELECT COUNT(*) FROM app.t")
    async with await connect(admin) as c:
        repl = await c.query_one(
            "SELECT ssl_type AS t FROM mysql.user WHERE User = %s AND Host = '%%'",
            (constants.REPLICATION_USER,),
        )
        st = await c.query_one("SELECT @@server_uuid AS u, @@super_read_only AS s")
        channels = await c.query(
            "SELECT CHANNEL_NAME FROM performance_schema.replication_connection_configuration"
        )
    assert st is not None
    assert str(st["u"]) == uuid, "the target keeps its server_uuid"
    assert int(st["s"]) == 1
    assert channels == [], "the source's replication configuration is not the target's"
    assert repl is not None
    assert str(repl["t"]) == "ANY", "moco-repl keeps its REQUIRE SSL"
    assert not state_dir(t.datadir).exists()


@pytest.mark.mysql
@pytest.mark.slow
async def test_in_place_point_in_time_restore_is_exact_and_the_target_owns_the_copy(
    mysqld_factory: MysqldFactory, backup_tools: Tools, s3_store: ObjectStore, tmp_path: Path
) -> None:
    (src,) = await mysqld_factory(1)
    bucket = s3_bucket(s3_store)
    ns = f"ns-{secrets.token_hex(3)}"
    src_admin, r1, point = await _source_with_two_batches(src, bucket, backup_tools, tmp_path, ns)
    t, admin, uuid = await _target(mysqld_factory)
    passwords = {constants.ADMIN_USER: admin.password}
    res = await run_restore(
        RestoreRequest(ns, "c", point, admin, tmp_path / "r", passwords=passwords, local=GroundTarget(t)),
        bucket,
        backup_tools,
    )
    assert res.backup_time == r1.time
    assert res.replayed is not None
    assert "swap" in res.timings
    assert "clone" not in res.timings, "in place: no CLONE into the target"
    assert await rows(admin) == list(range(50)), "exactly the rows committed before the point"
    # the copy's GTIDs and those replayed up to the point, none of the target's own before
    have = GtidSet.parse(await gtid(admin))
    assert GtidSet.parse(r1.gtid_set).is_subset(have)
    assert have.is_subset(GtidSet.parse(await gtid(src_admin)))
    await _assert_target_owns(t, admin, uuid)
    # it is a server like any other afterwards: it restarts on the copy
    await t.astop()
    t.start()

    async def answers() -> bool:
        try:
            return await rows(admin) == list(range(50))
        except MySQLError:
            return False

    await eventually(answers, what="the restored target restarted")


@pytest.mark.mysql
async def test_a_corrupted_object_is_refused_and_the_target_is_untouched(
    mysqld_factory: MysqldFactory, backup_tools: Tools, local_bucket: Bucket, tmp_path: Path
) -> None:
    (src,) = await mysqld_factory(1)
    await _writable(src)
    async with await connect(src.endpoint()) as c:
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(32))")
    await insert(src.endpoint(), range(30))
    r = await run_backup(BackupRequest("ns", "x", src.endpoint(), tmp_path / "b"), local_bucket, backup_tools)
    # one byte of the largest part flipped in the middle
    keys = [k for k in await local_bucket.list("moco/ns/x/") if ".tar.zst" in k and "clone" in k]
    sizes = {k: len(await local_bucket.get_bytes(k)) for k in keys}
    key = max(sizes, key=lambda k: sizes[k])
    raw = bytearray(await local_bucket.get_bytes(key))
    raw[len(raw) // 2] ^= 0xFF
    await local_bucket.put_bytes(key, bytes(raw))

    t, admin, _ = await _target(mysqld_factory)
    before = await gtid(admin)
    with pytest.raises(BackupError, match="cannot unpack"):
        await run_restore(
            RestoreRequest("ns", "x", r.time, admin, tmp_path / "r", local=GroundTarget(t)),
            local_bucket,
            backup_tools,
        )
    assert t.running, "the target was never stopped"
    assert await gtid(admin) == before
    async with await connect(admin) as c:
        dbs = {str(row["Database"]) for row in await c.query("SHOW DATABASES")}
    assert "app" not in dbs
    assert not state_dir(t.datadir).exists() or not any(state_dir(t.datadir).rglob("*.ibd"))


class _FailingStart(GroundTarget):
    """A target whose first start on the copy fails (the Job's Pod killed between the swap and
    the start, a start refused), after the copy was swapped in."""

    def __init__(self, m: Mysqld) -> None:
        super().__init__(m)
        self.failed = False

    async def start(self, init_file: Path) -> None:
        if not self.failed:
            self.failed = True
            raise BackupError("interrupted before the target started")
        await super().start(init_file)


@pytest.mark.mysql
@pytest.mark.slow
async def test_a_restore_interrupted_after_the_swap_is_run_again_to_the_same_result(
    mysqld_factory: MysqldFactory, backup_tools: Tools, local_bucket: Bucket, tmp_path: Path
) -> None:
    (src,) = await mysqld_factory(1)
    _, _, point = await _source_with_two_batches(src, local_bucket, backup_tools, tmp_path, "ns")
    t, admin, uuid = await _target(mysqld_factory)
    first = _FailingStart(t)
    with pytest.raises(BackupError, match="interrupted"):
        await run_restore(
            RestoreRequest("ns", "c", point, admin, tmp_path / "r", local=first), local_bucket, backup_tools
        )
    assert not t.running, "the target was stopped and its data replaced"
    assert (state_dir(t.datadir) / "users.sql").exists(), "the target's users are saved beside it"

    # the second run cannot read the users from the stopped target: they come from the state
    await run_restore(
        RestoreRequest("ns", "c", point, admin, tmp_path / "r", local=first), local_bucket, backup_tools
    )
    assert await rows(admin) == list(range(50))
    await _assert_target_owns(t, admin, uuid)

    # a third run, on the restored target (a Job run again after it succeeded): the same result
    await run_restore(
        RestoreRequest("ns", "c", point, admin, tmp_path / "r", local=GroundTarget(t)),
        local_bucket,
        backup_tools,
    )
    assert await rows(admin) == list(range(50))
    await _assert_target_owns(t, admin, uuid)


class _StalledBucket(Bucket):
    """The bucket, whose downloads stop after their first chunk until cancelled (a Job killed
    mid-download)."""

    def __init__(self, inner: Bucket) -> None:
        super().__init__(inner.store, name=inner.name, backend=inner.backend, op_timeout=inner.op_timeout)
        self.stalled = asyncio.Event()

    async def get_stream(self, key: str, *, chunk_size: int = 8 * 1024 * 1024) -> AsyncIterator[bytes]:
        async for chunk in super().get_stream(key, chunk_size=64 * 1024):
            yield chunk
            self.stalled.set()
            await asyncio.Event().wait()


@pytest.mark.mysql
async def test_a_restore_cancelled_during_the_download_leaves_the_target_running(
    mysqld_factory: MysqldFactory, backup_tools: Tools, local_bucket: Bucket, tmp_path: Path
) -> None:
    (src,) = await mysqld_factory(1)
    await _writable(src)
    async with await connect(src.endpoint()) as c:
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(32))")
    await insert(src.endpoint(), range(10))
    r = await run_backup(BackupRequest("ns", "d", src.endpoint(), tmp_path / "b"), local_bucket, backup_tools)
    t, admin, _ = await _target(mysqld_factory)
    before = await gtid(admin)
    req = RestoreRequest("ns", "d", r.time, admin, tmp_path / "r", local=GroundTarget(t))
    stalled = _StalledBucket(local_bucket)
    task = asyncio.create_task(run_restore(req, stalled, backup_tools))
    await asyncio.wait_for(stalled.stalled.wait(), 60)
    assert (state_dir(t.datadir) / "unpack").exists(), "the copy is being unpacked beside the target"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert t.running
    assert await gtid(admin) == before
    assert not (state_dir(t.datadir) / "users.sql").exists(), "nothing marks the target as replaced"
    # no part's thread writes there once the cancel returned (parts are unpacked by
    # moco.tasks.gather_all: gather returned at the first cancelled part, and the staging
    # directory was removed while another part's thread still wrote ibdata1 into it)
    await asyncio.sleep(1.0)
    assert not (state_dir(t.datadir) / "unpack").exists()
    # and run again, it restores (what a cancelled run left is removed first)
    await run_restore(req, local_bucket, backup_tools)
    assert await rows(admin) == list(range(10))
    assert not state_dir(t.datadir).exists()


@pytest.mark.mysql
async def test_a_schema_restore_with_a_local_target_is_served_by_the_export(
    mysqld_factory: MysqldFactory, backup_tools: Tools, local_bucket: Bucket, tmp_path: Path
) -> None:
    (src,) = await mysqld_factory(1)
    _, r1, point = await _source_with_two_batches(src, local_bucket, backup_tools, tmp_path, "ns")
    t, admin, uuid = await _target(mysqld_factory)
    async with await connect(admin) as c:
        await c.execute("SET SESSION sql_log_bin = 0")
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("CREATE DATABASE keep")
        await c.execute("SET GLOBAL super_read_only = ON")
    res = await run_restore(
        RestoreRequest(
            "ns", "c", point, admin, tmp_path / "r", schema="app", users=("app",), local=GroundTarget(t)
        ),
        local_bucket,
        backup_tools,
    )
    assert "schema_load" in res.timings
    assert await rows(admin) == list(range(50))
    async with await connect(admin) as c:
        dbs = {str(row["Database"]) for row in await c.query("SHOW DATABASES")}
        st = await c.query_one("SELECT @@server_uuid AS u, @@super_read_only AS s")
    assert "keep" in dbs, "a schema restore leaves the target's other schemas"
    assert st is not None
    assert str(st["u"]) == uuid
    assert int(st["s"]) == 1
    assert t.running
    assert GtidSet.parse(r1.gtid_set).is_subset(GtidSet.parse(await gtid(admin)))
