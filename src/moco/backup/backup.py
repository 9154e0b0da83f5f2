"""A backup of one instance, without Kubernetes: a physical copy by CLONE, and the binlogs since
the last backup, to the bucket.

Sequence (:func:`run_backup`):

1. The source's ``server_uuid``, current binlog file and ``gtid_executed`` are read *before* the
   copy starts. That GTID set is what ``status.backup.gtidSet`` records: every transaction in it
   is in the copy (the copy may hold a few more, applied by the replica while it was taken;
   those are skipped by a restore's binlog replay, and copied again, harmlessly, by the next
   backup's binlogs).
2. A scratch mysqld is initialised in the work dir and runs ``CLONE INSTANCE FROM`` the source
   ``DATA DIRECTORY`` = ``<work>/clone``: a consistent physical copy at CLONE's speed, the source
   stays online (CLONE takes only a backup lock), and nothing of the scratch server is in it.
3. While CLONE lands the copy, its files are packed as tar.zst parts (one per thread, at most
   one per core, each packing the next file CLONE has left alone, compressing it and sending
   it by multipart upload) to ``moco/<ns>/<name>/<time>/``; what CLONE wrote again after it was
   read is sent once more as patch parts once CLONE ended (:mod:`moco.backup.streamcopy`), then
   the manifest ``clone.json`` that names them all (:mod:`moco.backup.layout`).
4. Unless told to skip them, the source's binlogs since the last backup are copied raw
   (``mysqlbinlog``, see :mod:`moco.backup.binlog`) and uploaded as ``binlog.tar.zst`` into
   the *last* backup's directory. A failure there is a warning, not a failed backup (MOCO's).

The source is logged into as ``moco-backup`` (BACKUP_ADMIN is all CLONE needs from a donor;
REPLICATION SLAVE serves the binlog copy). The work dir is emptied afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from moco.backup.archive import Packed, members, partition, upload_dir, upload_feed_parts, upload_ranges
from moco.backup.binlog import dump_binlogs
from moco.backup.bucket import Bucket
from moco.backup.errors import BackupError
from moco.backup.layout import BINLOG_FILENAME, CLONE_MANIFEST, clone_part, object_key, sort_binlogs
from moco.backup.phases import Phases, clone_stages
from moco.backup.scratch import Tools, initialize, scratch_mysqld
from moco.backup.streamcopy import (
    FORMAT_PARTS,
    Feed,
    Patch,
    changed_ranges,
    follow,
    manifest_format,
    plan_patch,
    states_now,
)
from moco.log import get_logger
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.tasks import cancel_and_wait, gather_all

log = get_logger("moco.backup.backup")

#: The manifest's format of a copy without patches (a restore refuses a format it does not
#: know; one with patches is :data:`moco.backup.streamcopy.FORMAT_PATCHED`).
MANIFEST_FORMAT: Final = FORMAT_PARTS
#: A backstop on the CLONE statement (the data size decides; a week like moco.mysql.clone).
CLONE_BOUND: Final = 7 * 24 * 3600.0


@dataclass(frozen=True)
class SourceStatus:
    """The source instance just before the copy."""

    uuid: str
    binlog_file: str
    gtid_executed: str


@dataclass(frozen=True)
class BinlogRange:
    """Where the binlogs since the last backup start, and where to put them."""

    start_file: str
    exclude_gtids: str
    last_time: datetime


@dataclass(frozen=True)
class BackupRequest:
    """One backup: the cluster's name, the chosen source, the binlogs to add (None: none)."""

    namespace: str
    name: str
    source: Endpoint
    work_dir: Path
    binlogs: BinlogRange | None = None
    #: start the binlog copy at the source's oldest file (the source is not the last one's)
    binlogs_from_oldest: bool = False
    threads: int = 4
    start_time: datetime | None = None
    scratch_args: tuple[str, ...] = ()
    #: an initialised data directory to copy for the scratch server (made on first use)
    scratch_template: Path | None = None


@dataclass
class BackupResult:
    """What ``status.backup`` records."""

    time: datetime
    elapsed: float
    source_uuid: str
    binlog_filename: str
    gtid_set: str
    dump_size: int
    binlog_size: int
    work_dir_usage: int
    raw_size: int = 0
    warnings: list[str] = field(default_factory=list)
    binlog_error: str = ""
    #: wall seconds per phase (source_status, scratch_init, scratch_start, clone, upload: its
    #: part after the clone ended, patch, binlogs) and of the clone's own stages
    #: (``clone.file_copy``...; :mod:`moco.backup.phases`)
    timings: dict[str, float] = field(default_factory=dict)
    #: files of the copy with bytes CLONE wrote after they were read, sent again as ranges in a
    #: delta part (:mod:`moco.backup.streamcopy`)
    packed_again: int = 0


async def source_status(ep: Endpoint) -> SourceStatus:
    """server_uuid, current binlog file and gtid_executed of ``ep``."""
    async with await connect(ep, query_timeout=30.0) as c:
        row = await c.query_one("SELECT @@server_uuid AS u, @@global.gtid_executed AS g")
        st = await c.query_one("SHOW BINARY LOG STATUS")
    if row is None or st is None:
        raise BackupError(f"{ep.address}: no binary log status (is log_bin on?)")
    return SourceStatus(
        uuid=str(row["u"]), binlog_file=str(st["File"]), gtid_executed=str(row["g"]).replace("\n", "")
    )


async def oldest_binlog(ep: Endpoint) -> str:
    """The oldest binlog file the server still has."""
    async with await connect(ep, query_timeout=30.0) as c:
        rows = await c.query("SHOW BINARY LOGS")
    names = sort_binlogs([str(r["Log_name"]) for r in rows])
    if not names:
        raise BackupError(f"{ep.address}: no binlog files found")
    return names[0]


def streams(threads: int) -> int:
    """How many parts a copy is cut into: one per thread, at most one per core."""
    return max(1, min(threads, os.cpu_count() or 1))


def zstd_threads(threads: int) -> int:
    """zstd's worker threads: none (compression in the packing thread) on a machine of two
    cores or fewer, where extra threads only contend with the upload (measured), else
    ``threads``."""
    return 0 if (os.cpu_count() or 1) <= 2 else max(threads, 1)


def dir_usage(path: Path) -> int:
    """Bytes allocated under ``path`` (blocks, as ``du``)."""
    total = 0
    for p in path.rglob("*"):
        try:
            st = p.lstat()
        except OSError:
            continue
        total += st.st_blocks * 512
    return total


async def prepare_template(tools: Tools, template: Path, work: Path) -> Path:
    """An initialised data directory at ``template`` (made once, atomically; reused after)."""
    if (template / "mysql.ibd").exists():
        return template
    tmp = template.with_name(f".{template.name}.{secrets.token_hex(4)}")
    try:
        await initialize(tools, tmp, work)
        try:
            tmp.rename(template)
        except OSError:
            if not (template / "mysql.ibd").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return template


async def clone_into(
    tools: Tools,
    source: Endpoint,
    work: Path,
    dest: Path,
    scratch_args: tuple[str, ...] = (),
    *,
    template: Path | None = None,
    phases: Phases | None = None,
) -> None:
    """A physical copy of ``source`` in ``dest`` through a scratch mysqld in ``work``.

    The scratch server's own data directory is a copy of ``template`` (an initialised data
    directory, made on first use) when one is given, else initialised here (seconds). It is
    killed, not shut down, once the copy is complete: nothing of it is kept.
    """
    ph = phases if phases is not None else Phases()
    datadir = work / "scratch-data"
    shutil.rmtree(datadir, ignore_errors=True)
    shutil.rmtree(dest, ignore_errors=True)
    with ph("scratch_init"):
        if template is not None:
            await prepare_template(tools, template, work)
            await asyncio.to_thread(shutil.copytree, template, datadir, symlinks=True)
        else:
            await initialize(tools, datadir, work)
    password = secrets.token_hex(16)
    started = time.monotonic()
    async with scratch_mysqld(tools, datadir, work, password=password, extra_args=scratch_args) as s:
        ph.add("scratch_start", time.monotonic() - started)
        async with await connect(s.endpoint, query_timeout=CLONE_BOUND) as c:
            await c.execute("SET GLOBAL clone_valid_donor_list = %s", (source.address,))
            log.info("clone started", donor=source.address, dest=str(dest))
            with ph("clone"):
                try:
                    await c.execute(
                        "CLONE INSTANCE FROM %s@%s:%s IDENTIFIED BY %s DATA DIRECTORY = %s",
                        (source.user, source.host, int(source.port), source.password, str(dest)),
                    )
                except MySQLError as e:
                    raise BackupError(f"clone from {source.address} failed: {e}") from e
            for stage, seconds in (await clone_stages(c)).items():
                ph.add(f"clone.{stage}", seconds)
            log.info("clone done", donor=source.address, seconds=round(ph.seconds["clone"], 2))
        await s.kill()
    shutil.rmtree(datadir, ignore_errors=True)


def _extent(blocks: list[tuple[int, int, bytes]]) -> int:
    """The bytes of a file the packers read (the end of its last block)."""
    return max((off + ln for off, ln, _ in blocks), default=0)


async def run_backup(req: BackupRequest, bucket: Bucket, tools: Tools) -> BackupResult:
    """Take the backup described by ``req`` (module docstring)."""
    work = req.work_dir
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    ph = Phases()
    with ph("source_status"):
        st = await source_status(req.source)
    start = req.start_time or datetime.now(UTC).replace(microsecond=0)
    log.info(
        "backup started", source=req.source.address, uuid=st.uuid, binlog=st.binlog_file, time=str(start)
    )
    clone_dir = work / "clone"
    # nothing of an earlier run may be taken for this copy (streamcopy rule 1 looks at it at once)
    shutil.rmtree(clone_dir, ignore_errors=True)
    n = streams(req.threads)
    names = [clone_part(i) for i in range(n)]
    feed = Feed(n)
    try:
        upload = asyncio.create_task(
            upload_feed_parts(
                bucket,
                [object_key(req.namespace, req.name, name, start) for name in names],
                clone_dir,
                "data",
                feed,
                threads=0,
                concurrency=max(req.threads * 2, 8),
            )
        )
        clone = asyncio.create_task(
            clone_into(
                tools, req.source, work / "scratch", clone_dir, req.scratch_args,
                template=req.scratch_template, phases=ph,
            )
        )  # fmt: skip
        try:
            await follow(feed, clone_dir, clone, upload)
            cloned = time.monotonic()
            packed = await upload
            ph.add("upload", time.monotonic() - cloned)
        except BaseException:
            feed.abort()
            for task in (clone, upload):
                with contextlib.suppress(Exception):
                    await cancel_and_wait(task)
            raise
        for name, seconds in packed.stats.phases("upload").items():
            ph.add(name, seconds)
        with ph("patch"):
            patch = plan_patch(feed.taken, await asyncio.to_thread(states_now, list(feed.taken)))
            changed = await gather_all(
                *(asyncio.to_thread(changed_ranges, p, feed.blocks.get(p, [])) for p in patch.again)
            )
            # a file whose bytes and size are what the parts hold needs nothing (CLONE's writes
            # of the same bytes, a look too soon after its last write)
            deltas = [
                (p, size, ranges)
                for p, (size, ranges) in zip(patch.again, changed, strict=True)
                if ranges or size != _extent(feed.blocks.get(p, []))
            ]
            # the delta parts, one per thread as the parts (the ranges split by their bytes)
            weights = {p: sum(ln for _, ln in r) + 1 for p, _, r in deltas}
            groups = [g for g in partition(weights, n) if g]
            by_path = {p: (p, size, r) for p, size, r in deltas}
            patches = [clone_part(n + i) for i in range(len(groups))]
            sent = await gather_all(
                *(
                    upload_ranges(
                        bucket,
                        object_key(req.namespace, req.name, key, start),
                        clone_dir,
                        [by_path[p] for p in g],
                    )
                    for key, g in zip(patches, groups, strict=True)
                )
            )
            packed = Packed(
                raw_bytes=packed.raw_bytes,
                stored_bytes=packed.stored_bytes + sum(x.stored_bytes for x in sent),
            )
            log.info(
                "copy streamed while cloned",
                files=len(feed.taken),
                looked_again=len(patch.again),
                bytes_again=sum(ln for _, _, ranges in deltas for _, ln in ranges),
                removed=len(patch.removed),
                again=[str(p.relative_to(clone_dir)) for p, _, r in deltas[:10] if r],
            )
        usage = dir_usage(work)
        dirs = [str(p.relative_to(clone_dir)) for p in members(clone_dir) if p.is_dir()]
        manifest = {
            "format": manifest_format(Patch(again=[p for p, _, _ in deltas], removed=patch.removed)),
            "parts": names,
            "patches": patches,
            "removed": [str(p.relative_to(clone_dir)) for p in patch.removed],
            "dirs": dirs,
            "rawBytes": packed.raw_bytes,
            "storedBytes": packed.stored_bytes,
            "sourceUUID": st.uuid,
            "binlogFilename": st.binlog_file,
            "gtidSet": st.gtid_executed,
        }
        await bucket.put_bytes(
            object_key(req.namespace, req.name, CLONE_MANIFEST, start), json.dumps(manifest).encode()
        )
    finally:
        with ph("cleanup"):
            await asyncio.to_thread(shutil.rmtree, clone_dir, True)
            shutil.rmtree(work / "scratch", ignore_errors=True)
    res = BackupResult(
        time=start,
        elapsed=0.0,
        source_uuid=st.uuid,
        binlog_filename=st.binlog_file,
        gtid_set=st.gtid_executed,
        dump_size=packed.stored_bytes,
        binlog_size=0,
        work_dir_usage=usage,
        raw_size=packed.raw_bytes,
        timings=ph.seconds,
        packed_again=len(deltas),
    )
    if req.binlogs is not None:
        with ph("binlogs"):
            try:
                await _backup_binlogs(req, req.binlogs, bucket, tools, res)
            except (BackupError, MySQLError, OSError) as e:
                log.error("binlog backup failed", error=str(e))
                res.binlog_error = str(e)
                res.warnings.append(f"failed to backup binary logs: {e}")
    res.elapsed = time.monotonic() - t0
    log.info(
        "backup finished",
        seconds=round(res.elapsed, 2),
        dump_size=res.dump_size,
        binlog_size=res.binlog_size,
        **ph.rounded(),
    )
    return res


async def _backup_binlogs(
    req: BackupRequest, rng: BinlogRange, bucket: Bucket, tools: Tools, res: BackupResult
) -> None:
    bdir = req.work_dir / "binlog"
    shutil.rmtree(bdir, ignore_errors=True)
    try:
        start_file = await oldest_binlog(req.source) if req.binlogs_from_oldest else rng.start_file
        names = await dump_binlogs(
            tools, req.source, bdir, start_file=start_file, exclude_gtids=rng.exclude_gtids, work=req.work_dir
        )
        res.work_dir_usage = max(res.work_dir_usage, dir_usage(bdir))
        packed = await upload_dir(
            bucket,
            object_key(req.namespace, req.name, BINLOG_FILENAME, rng.last_time),
            bdir,
            "binlog",
            threads=zstd_threads(req.threads),
        )
        res.binlog_size = packed.stored_bytes
        log.info("binlogs uploaded", files=len(names), bytes=packed.stored_bytes)
    finally:
        shutil.rmtree(bdir, ignore_errors=True)


__all__ = [
    "BackupRequest",
    "BackupResult",
    "BinlogRange",
    "SourceStatus",
    "clone_into",
    "dir_usage",
    "run_backup",
    "source_status",
]
