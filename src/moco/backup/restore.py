"""A point-in-time restore into a target instance, without Kubernetes.

Sequence (:func:`run_restore`):

1. The nearest full copy at or before the restore point, and the binlogs following it, are
   found in ``moco/<src-ns>/<src-name>/`` (:func:`moco.backup.layout.find_nearest`). A point
   past the last backup must be within the continuous archive's marker
   (:func:`check_reach`): otherwise the restore fails here, before the target is touched,
   naming ``spec.restore.restorePoint`` and the latest point available.
2. The copy's parts (named by its manifest) are downloaded and unpacked at once into the work
   dir, and a scratch mysqld starts on it
   (InnoDB finishes the clone's recovery; its ``gtid_executed`` is the copy's).
3. The carried users: the copy holds the *source* cluster's ``mysql.*``, moco's users with the
   source's passwords included. On the scratch server, before anything leaves it, moco's users
   are recreated as the *target* has them (authentication strings copied from the target as
   hex, grants from SHOW GRANTS: no password needed), passwords given in the request are set
   over them, the source's replication configuration is reset, and with ``users`` set every
   account that is not listed (nor moco's, nor MySQL's own) is dropped. Nothing there is
   binlogged.
4. Whole-instance restore: the target takes the scratch server's data with ``CLONE INSTANCE
   FROM`` (:func:`moco.mysql.clone.clone_instance`; the target mysqld restarts, error 3707 in a
   Pod, its container restart brings it back) and so holds the copy's GTID set.
   Schema restore (``schema`` set): only that schema is exported from the scratch server
   (``mysqldump``, not binlogged on the target) with the accounts to restore, and the copy's
   GTID set is added to the target's ``gtid_purged`` (MOCO's ``updateGtidSet``), so the binlog
   replay skips what the copy holds. A logical export serves one schema of any engine without
   the tablespace juggling of transportable tablespaces; its cost is that of the schema alone.
5. If the restore point is after the copy, the binlogs are replayed into the target up to the
   restore point (``--stop-datetime``; ``--database`` for a schema restore): those the next
   backup saved, or, past the last backup, the continuous archive (:mod:`moco.backup.archiver`).
6. The target is left ``super_read_only`` (MOCO's FinishRestore).

In place (``local`` set, a whole restore): where this program may stop and start the target's
mysqld, steps 2-4 are one copy and one start instead of two of each: the parts are unpacked
beside the target's data directory, swapped in while it is stopped, and the target starts on
them with moco's users recreated as it had them (:mod:`moco.backup.inplace`); steps 1, 5 and 6
are the same. In a cluster the Job cannot stop instance 0's mysqld, so it restores by CLONE.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import posixpath
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from moco import constants
from moco.backup.archive import PipeStats, download_unpack, download_unpack_parts
from moco.backup.archiver import ArchiveState, fetch_archive, read_state
from moco.backup.binlog import Replayed, replay_binlogs
from moco.backup.bucket import Bucket
from moco.backup.errors import BackupError, NoBackup, RestorePointUnavailable, ToolFailed
from moco.backup.inplace import (
    LocalTarget,
    flush_tree,
    init_sql,
    load_users,
    save_users,
    state_dir,
    swap_datadir,
    user_statements,
)
from moco.backup.layout import cluster_prefix, find_nearest, sort_binlogs
from moco.backup.phases import Phases, clone_stages
from moco.backup.scratch import Tools, client_options_file, scratch_mysqld, write_secret_file
from moco.backup.streamcopy import FORMAT_PARTS, FORMAT_PATCHED
from moco.log import get_logger
from moco.mysql.clone import CloneBounds, Donor, clone_instance
from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.mysql.gtid import GtidSet

log = get_logger("moco.backup.restore")

#: Accounts of MySQL itself, never dropped nor copied.
MYSQL_ACCOUNTS: Final = frozenset({"mysql.sys", "mysql.session", "mysql.infoschema", "root"})
#: A backstop on a schema export (the data size decides).
EXPORT_BOUND: Final = 24 * 3600.0
#: The target's clone keeps CloneBounds' stall and boot bounds, but its progress is sampled and
#: its restart polled every 0.25 s instead of every 2 s / 0.5 s: the restore waits for nothing
#: else then, and a restarted target was noticed up to one poll late. One query on the target
#: per step is what that costs.
RESTORE_CLONE_BOUNDS: Final = CloneBounds(poll=0.25)


@dataclass(frozen=True)
class RestoreRequest:
    """One restore: where the backups are, the point, the target and its passwords."""

    source_namespace: str
    source_name: str
    restore_point: datetime
    #: the target instance (index 0) as moco-admin with the target's password
    target: Endpoint
    work_dir: Path
    #: target passwords of moco's users (at least moco-admin's)
    passwords: Mapping[str, str] = field(default_factory=dict, repr=False)
    schema: str = ""
    users: tuple[str, ...] = ()
    threads: int = 4
    #: how the target reaches the scratch server: listen address and advertised host
    bind: str = "127.0.0.1"
    advertise: str = "127.0.0.1"
    port: int = 0
    scratch_args: tuple[str, ...] = ()
    clone_bounds: CloneBounds = RESTORE_CLONE_BOUNDS
    #: the target's mysqld, when this program may stop and start it: a whole restore is then
    #: unpacked into its data directory (:mod:`moco.backup.inplace`) instead of cloned into it
    local: LocalTarget | None = field(default=None, compare=False)


@dataclass
class RestoreResult:
    """What the restore did, for logs and benchmarks."""

    backup_time: datetime
    clone_key: str
    binlog_key: str
    copy_gtid: str
    unpacked_bytes: int
    replayed: Replayed | None
    seconds: float
    #: wall seconds per phase (locate, wait_target, download, scratch_start, prepare, clone or
    #: schema_load, replay) and of the clone's stages on the target (``clone.restart``...)
    timings: dict[str, float] = field(default_factory=dict)


def parse_users(text: str) -> tuple[str, ...]:
    """MOCO's ``users``: a comma-separated list of user names (empty: all users)."""
    return tuple(u.strip() for u in text.split(",") if u.strip())


async def _set_target_passwords(c: Connection, passwords: Mapping[str, str]) -> None:
    rows = await c.query("SELECT User AS u FROM mysql.user WHERE Host = %s", ("%",))
    present = {str(r["u"]) for r in rows}
    for user, pw in passwords.items():
        if user in present and pw:
            await c.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, pw))


async def _accounts(c: Connection) -> list[tuple[str, str]]:
    rows = await c.query("SELECT User AS u, Host AS h FROM mysql.user")
    return [(str(r["u"]), str(r["h"])) for r in rows]


def accounts_to_drop(accounts: list[tuple[str, str]], keep: tuple[str, ...]) -> list[tuple[str, str]]:
    """Accounts not listed in ``keep`` (nor moco's, nor MySQL's own): dropped when ``keep`` is set."""
    if not keep:
        return []
    spared = set(keep) | set(constants.ALL_USERS) | MYSQL_ACCOUNTS
    return [(u, h) for u, h in accounts if u not in spared]


async def prepare_scratch(c: Connection, req: RestoreRequest) -> str:
    """Make the copy the target's (module docstring, step 3); returns the copy's GTID set."""
    await c.execute("SET SESSION sql_log_bin = 0")
    if not req.schema:
        async with await connect(req.target, query_timeout=60.0) as t:
            carried = await carry_target_users(t, c)
        log.info("the target's users carried onto the copy", users=carried)
    return await _own_accounts(c, req)


async def prepare_target(c: Connection, req: RestoreRequest) -> str:
    """Step 3 on the target itself, started on the copy in place (:mod:`moco.backup.inplace`):
    its init file already recreated moco's users as the target had them; the passwords given,
    the ``users`` filter and the replication reset follow, not binlogged. Returns the copy's
    GTID set and leaves the target ``super_read_only``."""
    await c.execute("SET SESSION sql_log_bin = 0")
    await c.execute("SET GLOBAL super_read_only = OFF")
    try:
        return await _own_accounts(c, req)
    finally:
        await c.execute("SET GLOBAL super_read_only = ON")


async def _own_accounts(c: Connection, req: RestoreRequest) -> str:
    await _set_target_passwords(c, req.passwords)
    for u, h in accounts_to_drop(await _accounts(c), req.users):
        await c.execute("DROP USER IF EXISTS %s@%s", (u, h))
    await c.execute("RESET REPLICA ALL")
    row = await c.query_one("SELECT @@global.gtid_executed AS g")
    return str(row["g"] if row else "").replace("\n", "")


@dataclass(frozen=True)
class Manifest:
    """What ``clone.json`` says of a copy: its parts' keys, its directories, and for a copy packed
    while it was cloned (:mod:`moco.backup.streamcopy`) the patch parts unpacked after the parts
    and the files removed after both."""

    part_keys: list[str]
    dirs: list[str]
    patch_keys: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _inside(path: str) -> bool:
    return bool(path) and not path.startswith("/") and ".." not in path.split("/")


def parse_manifest(key: str, raw: bytes) -> Manifest:
    """The manifest at ``key`` (pure); :class:`BackupError` when it is not one we can read."""
    try:
        doc = json.loads(raw)
        if doc.get("format") not in (FORMAT_PARTS, FORMAT_PATCHED):
            raise BackupError(f"{key}: unknown backup format {doc.get('format')!r}")
        base = posixpath.dirname(key)
        parts = [posixpath.join(base, str(p)) for p in doc["parts"]]
        patched = doc["format"] == FORMAT_PATCHED
        patches = [posixpath.join(base, str(p)) for p in doc["patches"]] if patched else []
        removed = [str(r) for r in doc["removed"]] if patched else []
        dirs = [str(d) for d in doc.get("dirs") or []]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BackupError(f"{key}: not a backup manifest ({e})") from e
    if not parts or not all(_inside(d) for d in [*dirs, *removed]):
        raise BackupError(f"{key}: not a backup manifest (no parts, or a path outside the copy)")
    return Manifest(part_keys=parts, dirs=dirs, patch_keys=patches, removed=removed)


async def read_manifest(bucket: Bucket, key: str) -> Manifest:
    return parse_manifest(key, await bucket.get_bytes(key))


async def wait_target(ep: Endpoint, timeout: float) -> None:  # noqa: ASYNC109
    """Wait until the target accepts moco-admin and is super_read_only (initialised, as MOCO waits)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            async with await connect(ep, timeout=5.0, query_timeout=10.0) as c:
                row = await c.query_one("SELECT @@super_read_only AS s")
                if row is not None and int(row["s"]) == 1:
                    return
                last = "super_read_only is off"
        except MySQLError as e:
            last = e
        await asyncio.sleep(1.0)
    raise BackupError(f"the target {ep.address} is not ready within {timeout}s: {last}")


async def _recreate(src: Connection, dst: Connection, u: str, h: str, *, in_place: bool = False) -> bool:
    """``u@h`` on ``dst`` as on ``src``: authentication (the hash, as hex) and grants.

    The account is dropped and created again, unless ``in_place``: the account ``dst`` is
    logged in as is altered instead (``SHOW CREATE USER``'s text as ``ALTER USER``) and given
    ``src``'s grants over its own. Dropping it would take its privileges from the session that
    grants them: a grant the session can only give holding it (``PROXY``) is then refused.
    """
    await src.execute("SET SESSION print_identified_with_as_hex = ON")
    create = await src.query_one("SHOW CREATE USER %s@%s", (u, h))
    grants = await src.query("SHOW GRANTS FOR %s@%s", (u, h))
    if create is None:
        return False
    text = str(next(iter(create.values())))
    if in_place:
        if not text.startswith("CREATE USER "):
            raise BackupError(f"SHOW CREATE USER {u}@{h} is not a CREATE USER statement")
        await dst.execute("ALTER USER " + text.removeprefix("CREATE USER "))
    else:
        await dst.execute("DROP USER IF EXISTS %s@%s", (u, h))
        await dst.execute(text)
    for g in grants:
        await dst.execute(str(next(iter(g.values()))))
    return True


async def carry_target_users(target: Connection, scratch: Connection) -> list[str]:
    """moco's users of the target, recreated on the scratch server as the target has them.

    The target's agent made them with the target's passwords; copying their authentication
    strings (hashes) needs no password at all, so the copy ends with the target's users whatever
    the Job was given. ``moco-admin``, whom the scratch session is logged in as, is done last
    and in place (see :func:`_recreate`): the scratch server's moco-admin holds what an
    instance's does (``ALL`` and ``PROXY``, with the grant option), so the target's grants add
    nothing it lacks.
    """
    present = {u for u, h in await _accounts(target) if h == "%"}
    order = [u for u in constants.ALL_USERS if u != constants.ADMIN_USER] + [constants.ADMIN_USER]
    done = []
    for u in order:
        if u in present and await _recreate(target, scratch, u, "%", in_place=u == constants.ADMIN_USER):
            done.append(u)
    return done


async def _copy_accounts(src: Connection, dst: Connection, keep: tuple[str, ...]) -> int:
    """Create the source's accounts (not moco's nor MySQL's) on the target, with their grants."""
    n = 0
    spared = set(constants.ALL_USERS) | MYSQL_ACCOUNTS
    for u, h in await _accounts(src):
        if u in spared or (keep and u not in keep):
            continue
        if await _recreate(src, dst, u, h):
            n += 1
    return n


async def export_schema(tools: Tools, scratch: Endpoint, target: Endpoint, schema: str, work: Path) -> None:
    """``mysqldump SCHEMA`` from the scratch server into the target, not binlogged there."""
    src_opts = client_options_file(work / "export-src.cnf", scratch.user, scratch.password)
    dst_opts = client_options_file(work / "export-dst.cnf", target.user, target.password)
    dump = [
        *tools.mysqldump,
        f"--defaults-extra-file={src_opts}",
        "--host", scratch.host, "--port", str(scratch.port), "--protocol=tcp",
        "--single-transaction", "--set-gtid-purged=OFF", "--routines", "--events", "--triggers",
        "--databases", schema,
    ]  # fmt: skip
    load = [
        *tools.mysql,
        f"--defaults-extra-file={dst_opts}",
        "--host", target.host, "--port", str(target.port), "--protocol=tcp",
        "--binary-mode", "--init-command=SET SESSION sql_log_bin = 0",
    ]  # fmt: skip
    env = tools.environ()
    r, w = os.pipe()
    try:
        d = await asyncio.create_subprocess_exec(*dump, stdout=w, stderr=asyncio.subprocess.PIPE, env=env)
        m = await asyncio.create_subprocess_exec(
            *load, stdin=r, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env
        )
    finally:
        os.close(r)
        os.close(w)
    try:
        async with asyncio.timeout(EXPORT_BOUND):
            (_, derr), (_, merr) = await asyncio.gather(d.communicate(), m.communicate())
    except BaseException:
        for p in (d, m):
            if p.returncode is None:
                p.kill()
            await p.wait()
        raise
    finally:
        src_opts.unlink(missing_ok=True)
        dst_opts.unlink(missing_ok=True)
    if d.returncode != 0:
        raise ToolFailed(
            f"mysqldump {schema} exited with {d.returncode}: {derr.decode(errors='replace')[-2000:]}"
        )
    if m.returncode != 0:
        raise ToolFailed(
            f"mysql (schema load) exited with {m.returncode}: {merr.decode(errors='replace')[-2000:]}"
        )


async def add_purged(target: Endpoint, copy_gtid: str) -> None:
    """Add the copy's GTIDs the target lacks to its gtid_purged (a schema restore's updateGtidSet)."""
    async with await connect(target, query_timeout=60.0) as c:
        row = await c.query_one("SELECT @@global.gtid_executed AS g")
        have = GtidSet.parse(str(row["g"] if row else ""))
        missing = GtidSet.parse(copy_gtid).subtract(have)
        if missing:
            await c.execute("SET GLOBAL gtid_purged = %s", (f"+{missing}",))


def _zulu(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_reach(point: datetime, backup_time: datetime, archive: ArchiveState | None, source: str) -> None:
    """Refuse a restore point past the last backup that the bucket cannot serve (pure).

    The latest point available is the last backup's time, or the archive's ``syncedTime``
    (whole seconds) when later, or, when a gap of the archive ends after the backup, the gap's
    start (not before the backup); a point after it raises :class:`RestorePointUnavailable`.
    """
    latest = backup_time
    gap = next((g for g in sorted(archive.gaps) if g[1] > backup_time.timestamp()), None) if archive else None
    if archive is not None and gap is not None:
        start = datetime.fromtimestamp(int(gap[0]), UTC)
        latest = max(latest, start)
        why = (
            f"binlogs written after {_zulu(start)} were purged before they were archived "
            f"(a gap found at {_zulu(datetime.fromtimestamp(int(gap[1]), UTC))}); a backup taken "
            f"after it serves later points"
        )
    elif archive is None or not archive.synced_time:
        why = (
            "there is no binlog archive past the last backup (annotate the BackupPolicy "
            'moco.cybozu.com/binlog-archive: "true" to archive binlogs continuously)'
        )
    else:
        synced = datetime.fromtimestamp(int(archive.synced_time), UTC)
        latest = max(latest, synced)
        why = f"the binlog archive is complete up to {_zulu(synced)}"
    if point <= latest:
        return
    raise RestorePointUnavailable(
        f"spec.restore.restorePoint {_zulu(point)} is past what the bucket holds for {source}: "
        f"the latest point available is {_zulu(latest)} (last backup {_zulu(backup_time)}; {why}). "
        f"Restore to a point at or before it"
    )


async def run_restore(
    req: RestoreRequest, bucket: Bucket, tools: Tools, *, target_timeout: float = 600.0
) -> RestoreResult:
    """Restore the source's backup at ``req.restore_point`` into ``req.target`` (module docstring)."""
    started = time.monotonic()
    ph = Phases()
    with ph("locate"):
        keys = await bucket.list(cluster_prefix(req.source_namespace, req.source_name))
        near = find_nearest(keys, req.restore_point)
        if near is None:
            raise NoBackup(
                f"no backup of {req.source_namespace}/{req.source_name} at or before "
                f"{req.restore_point:%Y-%m-%d %H:%M:%S} in bucket {bucket.name!r}"
            )
        if not near.binlog_key and req.restore_point > near.time:
            # past the last backup: only the continuous archive can serve it, up to its marker
            archive = await read_state(bucket, req.source_namespace, req.source_name)
            check_reach(req.restore_point, near.time, archive, f"{req.source_namespace}/{req.source_name}")
        log.info("restoring", clone=near.clone_key, binlog=near.binlog_key or "(none)")
        manifest = await read_manifest(bucket, near.clone_key)
    if req.local is not None and not req.schema:
        copy_gtid, unpacked = await _copy_in_place(req, req.local, bucket, manifest, ph, target_timeout)
    else:
        copy_gtid, unpacked = await _copy_by_clone(req, bucket, tools, manifest, ph, target_timeout)
    replayed: Replayed | None = None
    if near.binlog_key and req.restore_point > near.time:
        with ph("replay"):
            replayed = await _replay(req, bucket, tools, near.binlog_key, copy_gtid)
    elif req.restore_point > near.time:
        # past the last backup: the continuous archive, if there is one
        with ph("replay"):
            replayed = await _replay_archive(req, bucket, tools, int(near.time.timestamp()), copy_gtid)
    async with await connect(req.target, query_timeout=30.0) as c:
        await c.execute("SET GLOBAL super_read_only = ON")
    took = time.monotonic() - started
    log.info("restore finished", seconds=round(took, 2), in_place=req.local is not None, **ph.rounded())
    return RestoreResult(
        backup_time=near.time,
        clone_key=near.clone_key,
        binlog_key=near.binlog_key,
        copy_gtid=copy_gtid,
        unpacked_bytes=unpacked,
        replayed=replayed,
        seconds=took,
        timings=ph.seconds,
    )


async def _download(bucket: Bucket, manifest: Manifest, staging: Path, ph: Phases, *, direct: bool) -> int:
    """The copy's parts unpacked at once under ``staging/data`` (the ``download`` phase);
    ``direct``: past the page cache (for a copy a server with O_DIRECT starts on)."""
    shutil.rmtree(staging, ignore_errors=True)
    with ph("download"):
        # directories first: the parts are unpacked at once into the same tree
        for d in ["", *manifest.dirs]:
            os.makedirs(staging / "data" / d, exist_ok=True)
        pipe = PipeStats()
        unpacked = await download_unpack_parts(bucket, manifest.part_keys, staging, stats=pipe, direct=direct)
        if manifest.patch_keys:
            # a copy packed while cloned: what was written again after it was read, then what
            # was gone at the end (streamcopy rule 4)
            await download_unpack_parts(bucket, manifest.patch_keys, staging, stats=pipe, direct=direct)
        for r in manifest.removed:
            (staging / "data" / r).unlink(missing_ok=True)
    for name, seconds in pipe.phases("download").items():
        ph.add(name, seconds)
    return unpacked


async def _copy_by_clone(
    req: RestoreRequest, bucket: Bucket, tools: Tools, manifest: Manifest, ph: Phases, target_timeout: float
) -> tuple[str, int]:
    """Steps 2-4 of the module docstring: a scratch server on the copy, then the target's CLONE
    of it (or the schema's export); returns the copy's GTID set and the unpacked bytes."""
    with ph("wait_target"):
        await wait_target(req.target, target_timeout)
    work = req.work_dir
    data = work / "restore-data"
    shutil.rmtree(data, ignore_errors=True)
    try:
        # through the page cache: the scratch server (buffered I/O) reads it all again at once
        unpacked = await _download(bucket, manifest, work / "restore-unpack", ph, direct=False)
        (work / "restore-unpack" / "data").rename(data)
        admin_pw = req.passwords.get(constants.ADMIN_USER) or req.target.password
        t = time.monotonic()
        async with scratch_mysqld(
            tools, data, work / "scratch", password=admin_pw, bind=req.bind, advertise=req.advertise,
            port=req.port, extra_args=req.scratch_args,
        ) as s:  # fmt: skip
            ph.add("scratch_start", time.monotonic() - t)
            with ph("prepare"):
                async with await connect(s.endpoint, query_timeout=120.0) as c:
                    copy_gtid = await prepare_scratch(c, req)
            if not req.schema:
                with ph("clone"):
                    await clone_instance(
                        req.target,
                        Donor(s.advertised.host, s.advertised.port, s.advertised.user, s.advertised.password),
                        bounds=req.clone_bounds,
                    )
                # the copy is the target's now: the scratch server's data is disposable
                await s.kill()
                async with await connect(req.target, query_timeout=30.0) as c:
                    for stage, seconds in (await clone_stages(c)).items():
                        ph.add(f"clone.{stage}", seconds)
            else:
                with ph("schema_load"):
                    await _restore_schema(req, tools, s.endpoint, copy_gtid)
    finally:
        with ph("cleanup"):
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(work / "restore-unpack", ignore_errors=True)
            shutil.rmtree(work / "scratch", ignore_errors=True)
    return copy_gtid, unpacked


async def _copy_in_place(
    req: RestoreRequest,
    local: LocalTarget,
    bucket: Bucket,
    manifest: Manifest,
    ph: Phases,
    target_timeout: float,
) -> tuple[str, int]:
    """The copy unpacked beside the target's data directory and swapped in while the target is
    stopped (:mod:`moco.backup.inplace`, whose rules are numbered below); returns the copy's GTID
    set and the unpacked bytes."""
    state = state_dir(local.datadir)
    staging = state / "unpack"
    # rule 3: the users saved by an interrupted run are the target's; else the target is intact
    saved = load_users(state)
    if saved is None:
        with ph("wait_target"):
            await wait_target(req.target, target_timeout)
    try:
        # rule 1: the target still runs; past the page cache: the target reads it with O_DIRECT
        unpacked = await _download(bucket, manifest, staging, ph, direct=True)
        with ph("swap"):
            if saved is None:
                async with await connect(req.target, query_timeout=60.0) as c:
                    saved = await user_statements(c)
                await asyncio.to_thread(save_users, state, saved)
            await local.stop()
            await asyncio.to_thread(swap_datadir, staging / "data", local.datadir, state)
        init = write_secret_file(state / "init.sql", init_sql(saved))
        # rule 5: the copy is flushed while the target starts and recovers
        flushed = asyncio.create_task(asyncio.to_thread(flush_tree, local.datadir))
        try:
            with ph("start"):
                await local.start(init)
                await _wait_started(req.target, target_timeout)
        finally:
            with ph("flush"):
                await flushed
        init.unlink(missing_ok=True)
        with ph("prepare"):
            async with await connect(req.target, query_timeout=120.0) as c:
                copy_gtid = await prepare_target(c, req)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (state / "init.sql").unlink()
    shutil.rmtree(state, ignore_errors=True)
    return copy_gtid, unpacked


async def _wait_started(ep: Endpoint, timeout: float) -> None:  # noqa: ASYNC109
    """Wait until the target, started on the copy, accepts moco-admin with the target's password."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            async with await connect(ep, timeout=2.0, query_timeout=10.0) as c:
                await c.query("SELECT 1")
                return
        except MySQLError as e:
            last = e
        await asyncio.sleep(0.05)
    raise BackupError(
        f"the target {ep.address} did not accept {ep.user} within {timeout}s of its start on the "
        f"restored copy: {last} (its error log says why; running the restore again restores again)"
    )


async def _restore_schema(req: RestoreRequest, tools: Tools, scratch: Endpoint, copy_gtid: str) -> None:
    async with await connect(req.target, query_timeout=120.0) as dst:
        await dst.execute("SET GLOBAL super_read_only = OFF")
        await dst.execute("SET SESSION sql_log_bin = 0")
        await dst.execute(f"DROP DATABASE IF EXISTS `{req.schema.replace('`', '``')}`")
        async with await connect(scratch, query_timeout=120.0) as src:
            n = await _copy_accounts(src, dst, req.users)
    log.info("accounts copied", count=n)
    await export_schema(tools, scratch, req.target, req.schema, req.work_dir)
    await add_purged(req.target, copy_gtid)


async def _replay_archive(
    req: RestoreRequest, bucket: Bucket, tools: Tools, after: int, copy_gtid: str
) -> Replayed | None:
    adir = req.work_dir / "restore-archive"
    shutil.rmtree(adir, ignore_errors=True)
    try:
        files = await fetch_archive(bucket, req.source_namespace, req.source_name, after, adir)
        if not files:
            return None
        async with await connect(req.target, query_timeout=30.0) as c:
            await c.execute("SET GLOBAL super_read_only = OFF")
        return await replay_binlogs(
            tools,
            files,
            req.target,
            work=req.work_dir,
            stop_at=req.restore_point,
            database=req.schema,
            exclude_gtids=copy_gtid,
        )
    finally:
        shutil.rmtree(adir, ignore_errors=True)


async def _replay(req: RestoreRequest, bucket: Bucket, tools: Tools, key: str, copy_gtid: str) -> Replayed:
    bdir = req.work_dir / "restore-binlog"
    shutil.rmtree(bdir, ignore_errors=True)
    try:
        await download_unpack(bucket, key, bdir)
        src = bdir / "binlog"
        names = sort_binlogs([p.name for p in src.iterdir()]) if src.is_dir() else []
        if not names:
            raise BackupError(f"{key}: no binlog files in it")
        async with await connect(req.target, query_timeout=30.0) as c:
            await c.execute("SET GLOBAL super_read_only = OFF")
        return await replay_binlogs(
            tools,
            [src / n for n in names],
            req.target,
            work=req.work_dir,
            stop_at=req.restore_point,
            database=req.schema,
            exclude_gtids=copy_gtid,
        )
    finally:
        shutil.rmtree(bdir, ignore_errors=True)


__all__ = [
    "RestoreRequest",
    "RestoreResult",
    "accounts_to_drop",
    "add_purged",
    "check_reach",
    "parse_users",
    "prepare_scratch",
    "prepare_target",
    "run_restore",
    "wait_target",
]
