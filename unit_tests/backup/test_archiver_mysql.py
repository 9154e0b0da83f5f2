"""Continuous binlog archiving on real mysqld: restore points past the last backup, across a
failover of a 3-instance cluster run by the real clustering loop; a restore point past what the
archive holds fails before the target is touched."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from moco.backup.archiver import Archiver, read_state
from moco.backup.backup import BackupRequest, run_backup
from moco.backup.bucket import Bucket
from moco.backup.errors import BackupError, RestorePointUnavailable
from moco.backup.restore import RestoreRequest, run_restore
from moco.backup.scratch import Tools
from moco.mysql import ops
from moco.mysql.conn import Endpoint, connect
from moco.mysql.gtid import GtidSet
from unit_tests.backup.test_backup_restore_mysql import gtid, insert, next_second, rows
from unit_tests.fixtures.clustering import ClusterFactory, fail_primary
from unit_tests.fixtures.mysqld import MysqldFactory


async def caught_up(a: Archiver, within: float = 20.0) -> None:
    """Wait until the archive holds a transaction of this second or later."""
    now = int(time.time())
    deadline = time.monotonic() + within
    while a.last_time < now:
        assert time.monotonic() < deadline, f"the archive is {now - a.last_time}s behind"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def running(a: Archiver):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(a.run())
    try:
        yield a
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.mysql
@pytest.mark.slow
async def test_restore_past_the_last_backup_across_a_failover(
    cluster_ground: ClusterFactory,
    mysqld_factory: MysqldFactory,
    backup_tools: Tools,
    local_bucket: Bucket,
    tmp_path: Path,
) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(90)
    async with await connect(cg.primary_endpoint()) as c:
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(32))")
    await insert(cg.primary_endpoint(), range(0, 10))
    replica = next(i for i in range(3) if i != cg.h.primary)
    await asyncio.sleep(0.5)
    r1 = await run_backup(
        BackupRequest("ns", "a", cg.admin(replica), tmp_path / "w"), local_bucket, backup_tools
    )

    async def primary() -> Endpoint:
        return cg.admin(cg.h.primary)

    gaps: list[str] = []

    async def on_gap(msg: str) -> None:
        gaps.append(msg)

    def archiver() -> Archiver:
        return Archiver(
            local_bucket, backup_tools, tmp_path / "arch", "ns", "a", primary, interval=1.0, on_gap=on_gap
        )

    first = archiver()
    async with running(first):
        await insert(cg.primary_endpoint(), range(10, 30))
        point1 = await next_second()
        await insert(cg.primary_endpoint(), range(30, 40))
        await caught_up(first)
    # a restarted archiver resumes from state.json: it excludes what is archived already
    second = archiver()
    await second.load_state()
    assert first.archived.is_subset(second.archived)
    assert second.last_time == first.last_time
    async with running(second):
        await insert(cg.primary_endpoint(), range(40, 45))
        old = await fail_primary(cg)
        await cg.h.wait_for(lambda: cg.h.primary != old, 60, "a new primary")
        await cg.h.wait_for(lambda: cg.h.state is not None and cg.h.state.value != "Failed", 60, "writable")
        for _ in range(100):
            try:
                await insert(cg.primary_endpoint(), range(45, 60))
                break
            except Exception:
                await asyncio.sleep(0.3)
        point2 = await next_second()
        await insert(cg.primary_endpoint(), range(60, 70))
        await caught_up(second)
    assert not gaps
    assert point1 > r1.time
    t1, t2 = await mysqld_factory(2)
    await run_restore(
        RestoreRequest("ns", "a", point1, t1.endpoint(), tmp_path / "r1"), local_bucket, backup_tools
    )
    assert await rows(t1.endpoint()) == list(range(30))
    await run_restore(
        RestoreRequest("ns", "a", point2, t2.endpoint(), tmp_path / "r2"), local_bucket, backup_tools
    )
    assert await rows(t2.endpoint()) == list(range(60)), "the archive follows the new primary without a gap"
    assert datetime.now(UTC) > point2


@pytest.mark.mysql
async def test_a_failing_primary_lookup_does_not_end_the_archiver(
    mysqld_factory: MysqldFactory, backup_tools: Tools, local_bucket: Bucket, tmp_path: Path
) -> None:
    # in a Pod the lookup reads the cluster and the primary's Pod: an API error or a Pod without
    # an IP (its container restarting) is not a reason to stop following the current primary
    (m,) = await mysqld_factory(1)
    ep = m.endpoint()
    failing = False

    async def primary() -> Endpoint:
        if failing:
            raise BackupError("the primary Pod moco-a-0 has no IP")
        return ep

    async with await connect(ep) as c:
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(32))")
    a = Archiver(local_bucket, backup_tools, tmp_path / "arch", "ns", "lookup", primary, interval=0.3)
    async with running(a):
        await insert(ep, range(0, 5))
        await caught_up(a)
        failing = True
        await asyncio.sleep(1.5)  # several passes whose lookup fails
        await insert(ep, range(5, 10))
        executed = GtidSet.parse(await gtid(ep))
        deadline = time.monotonic() + 20
        while not executed.is_subset(a.archived):
            assert time.monotonic() < deadline, f"archived {a.archived}, executed {executed}"
            await asyncio.sleep(0.2)


def zulu(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.mysql
async def test_a_restore_point_past_what_the_archive_holds_fails_naming_the_latest_point(
    mysqld_factory: MysqldFactory, backup_tools: Tools, local_bucket: Bucket, tmp_path: Path
) -> None:
    # review finding: a restore point beyond the archive silently restored less. The archiver
    # records how far it is complete (state.json's syncedTime, the primary's clock), and a
    # restore past it fails before the target is touched, naming the point and the latest one
    src, target = await mysqld_factory(2)
    ep = src.endpoint()
    async with await connect(ep) as c:
        await ops.install_plugins(c)
        await ops.set_writable(c)
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(32))")
    await insert(ep, range(0, 5))
    r = await run_backup(BackupRequest("ns", "past", ep, tmp_path / "w"), local_bucket, backup_tools)
    before = await gtid(target.endpoint())

    def req(point: datetime, name: str) -> RestoreRequest:
        return RestoreRequest("ns", "past", point, target.endpoint(), tmp_path / name)

    # no archive at all: the last backup is the latest point
    point = r.time + timedelta(seconds=30)
    with pytest.raises(RestorePointUnavailable) as e1:
        await run_restore(req(point, "r1"), local_bucket, backup_tools)
    assert f"spec.restore.restorePoint {zulu(point)}" in str(e1.value)
    assert f"latest point available is {zulu(r.time)}" in str(e1.value)
    assert "binlog-archive" in str(e1.value), "the message says how to get later points"

    a = Archiver(
        local_bucket,
        backup_tools,
        tmp_path / "arch",
        "ns",
        "past",
        _fixed(ep),
        interval=0.3,
        marker_refresh=1.0,
    )
    async with running(a):
        await insert(ep, range(5, 10))
        await caught_up(a)
        written = time.time()
        deadline = time.monotonic() + 20
        # the marker in the bucket says how far the archive is complete, with nothing to upload too
        while (state := await read_state(local_bucket, "ns", "past")) is None or state.synced_time < written:
            assert time.monotonic() < deadline, f"the marker never passed {written}: {state}"
            await asyncio.sleep(0.2)
    assert a.archived == GtidSet.parse(await gtid(ep))
    synced = datetime.fromtimestamp(int(state.synced_time), UTC)
    # past the marker (the archiver stopped): refused, the target untouched
    point = synced + timedelta(seconds=60)
    with pytest.raises(RestorePointUnavailable) as e2:
        await run_restore(req(point, "r2"), local_bucket, backup_tools)
    assert f"spec.restore.restorePoint {zulu(point)}" in str(e2.value)
    assert f"latest point available is {zulu(synced)}" in str(e2.value)
    assert await gtid(target.endpoint()) == before, "a refused restore touched the target"
    # at the marker: everything written before it
    await run_restore(req(synced, "r3"), local_bucket, backup_tools)
    assert await rows(target.endpoint()) == list(range(10))


def _fixed(ep: Endpoint):  # type: ignore[no-untyped-def]
    async def primary() -> Endpoint:
        return ep

    return primary


@pytest.mark.mysql
async def test_a_restore_point_past_an_archive_gap_is_refused(
    mysqld_factory: MysqldFactory, backup_tools: Tools, local_bucket: Bucket, tmp_path: Path
) -> None:
    # binlogs purged before the archiver shipped them (it was stopped, or a new primary lacked
    # them) leave a gap: a point after it would replay the archive without the lost
    # transactions, a restore of less than asked. The gap is in the marker, the point refused
    src, target = await mysqld_factory(2)
    ep = src.endpoint()
    async with await connect(ep) as c:
        await ops.install_plugins(c)
        await ops.set_writable(c)
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(32))")
    await insert(ep, range(0, 5))
    r = await run_backup(BackupRequest("ns", "gap", ep, tmp_path / "w"), local_bucket, backup_tools)
    gaps: list[str] = []

    async def on_gap(msg: str) -> None:
        gaps.append(msg)

    def archiver() -> Archiver:
        return Archiver(
            local_bucket, backup_tools, tmp_path / "arch", "ns", "gap", _fixed(ep),
            interval=0.3, marker_refresh=0.5, on_gap=on_gap,
        )  # fmt: skip

    async with running(archiver()) as a:
        await insert(ep, range(5, 10))
        await caught_up(a)
    before_gap = await read_state(local_bucket, "ns", "gap")
    assert before_gap is not None
    # stopped: these are written and purged before anything ships them
    await asyncio.sleep(1.1)
    await insert(ep, range(10, 15))
    lost = GtidSet.parse(await gtid(ep)).subtract(before_gap.archived)
    assert lost
    async with await connect(ep) as c:
        await c.execute("FLUSH BINARY LOGS")
        newest = sorted(str(x["Log_name"]) for x in await c.query("SHOW BINARY LOGS"))[-1]
        # a file still read by the stopped follower's dump thread is kept: again until it is gone
        deadline = time.monotonic() + 20
        while True:
            await c.execute(f"PURGE BINARY LOGS TO '{newest}'")
            row = await c.query_one("SELECT @@global.gtid_purged AS p")
            if row is not None and lost.is_subset(GtidSet.parse(str(row["p"]))):
                break
            assert time.monotonic() < deadline, f"{lost} never purged"
            await asyncio.sleep(0.5)
    async with running(archiver()) as a:
        deadline = time.monotonic() + 20
        while not gaps:
            assert time.monotonic() < deadline, "no gap reported"
            await asyncio.sleep(0.2)
        await insert(ep, range(15, 20))
        written = time.time()
        while (st := await read_state(local_bucket, "ns", "gap")) is None or st.synced_time < written:
            assert time.monotonic() < deadline + 20, f"the marker never passed {written}: {st}"
            await asyncio.sleep(0.2)
    latest = datetime.fromtimestamp(int(before_gap.synced_time), UTC)
    point = datetime.fromtimestamp(int(written) + 1, UTC)
    assert point > latest
    with pytest.raises(RestorePointUnavailable) as e:
        await run_restore(
            RestoreRequest("ns", "gap", point, target.endpoint(), tmp_path / "r"), local_bucket, backup_tools
        )
    assert f"the latest point available is {zulu(latest)}" in str(e.value), str(e.value)
    assert "purged before they were archived" in str(e.value)
    assert r.time <= latest
