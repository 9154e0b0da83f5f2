"""Continuous binlog archiving: the primary's binlogs shipped to the bucket every few seconds.

MOCO's restore point can only reach the last backup. Here an :class:`Archiver` follows the
current primary as a replication client (``mysqlbinlog --read-from-remote-source=BINLOG-DUMP-GTIDS
--raw --stop-never``, as ``moco-backup``) and, every ``interval`` seconds, uploads what the
files gained up to their last complete event as *segments*::

    moco/<ns>/<name>/binlog-archive/<server_uuid>/<run>/<binlog file>/<offset>-<end>-<first ts>-<last ts>

so chaining a file's segments from offset 0 (each starts where one ends) gives a valid prefix of
the file as that run received it, and the recovery point is at most about ``interval`` plus one
upload behind the primary. A *run* is one start of the follower: the bytes it receives depend
on the GTIDs it excluded, so each run has its own keys and a restarted archiver never appends
to another run's files. ``state.json`` beside them records the GTIDs archived so far and the
time of the last one: a restarted archiver resumes from there.

``state.json`` is also the archive's *marker*: ``syncedTime`` (UNIX seconds, the primary's
clock) is a time at which every transaction the primary had committed was in the bucket. Each
pass reads the primary's ``gtid_executed`` and ``gtid_purged`` with its clock (a :class:`Probe`)
before uploading; once the archived GTIDs hold that ``gtid_executed`` but for what was purged
before the archive began (:meth:`Probe.covered`), the probe's time becomes ``syncedTime``. The
archive restores any point up to ``syncedTime``; a restore past it is refused
(:func:`moco.backup.restore.check_reach`) instead of silently restoring less. A probe not
covered yet is kept for the next pass (a newer one would keep moving ahead of a busy primary's
follower), so ``syncedTime`` lags the primary by one or two passes. With nothing to upload the
marker is rewritten every :data:`MARKER_REFRESH` seconds at most.

Failovers: when the follower ends (the primary died) or the primary changes, it starts again on
the new primary with ``--exclude-gtids`` = every GTID archived so far (read from the archived
events themselves), so nothing is archived twice and nothing is skipped.

Gaps: before a follower starts, the primary's ``gtid_purged`` is compared with what is archived;
GTIDs purged there but never archived (the archiver was down while binlogs expired, or a new
primary lacks them) are lost to the archive. The gap is reported (``on_gap``: an Event and a
status warning) and recorded in ``state.json`` as ``[syncedTime before it, its discovery]``:
a restore to a point after the gap's start from a backup taken before its end is refused
(:func:`moco.backup.restore.check_reach`), a later backup serves such points again. On a first
start (nothing archived yet) what was purged predates the archive and is no gap: it is counted
in the archived GTIDs (``archived`` in ``state.json``), which are the GTIDs archived and those
in no binlog since before the archive began.

A restore past the last backup replays the archive after the copy
(:func:`moco.backup.restore.run_restore`): servers in the order they were archived, files in
binlog order; GTIDs already applied are skipped by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from moco.backup.binlogfile import MAGIC, Scan, gtid_set, scan
from moco.backup.bucket import Bucket
from moco.backup.errors import BackupError
from moco.backup.layout import PREFIX, binlog_order, sort_binlogs
from moco.backup.scratch import Tools, client_options_file
from moco.log import get_logger
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.mysql.gtid import GtidSet

log = get_logger("moco.backup.archiver")

ARCHIVE_DIR: Final = "binlog-archive"
#: The replica server_id the follower announces (distinct from every instance's).
FOLLOWER_SERVER_ID: Final = 4294967294


#: How much of a binlog file the archiver reads at once (one segment at most, but for an event
#: larger than this): bounds its memory whatever ``max_binlog_size`` is.
READ_CHUNK: Final = 16 << 20


def read_events(path: Path, offset: int, limit: int) -> tuple[bytes, Scan]:
    """The complete events of ``path`` from ``offset`` within ``limit`` bytes (more when a single
    event is larger), and their scan; offsets in the scan are the file's."""
    while True:
        with path.open("rb") as f:
            f.seek(offset)
            chunk = f.read(limit)
        if offset == 0:
            sc = scan(chunk, 0)
        else:
            # scan() reads a file from its start: the magic stands in for what precedes offset
            sc = scan(MAGIC + chunk, len(MAGIC))
            sc = dataclasses.replace(sc, end=sc.end - len(MAGIC) + offset)
        if sc.end > offset or len(chunk) < limit:
            return chunk[: sc.end - offset], sc
        limit *= 2


def archive_prefix(namespace: str, name: str) -> str:
    return f"{PREFIX}/{namespace}/{name}/{ARCHIVE_DIR}/"


STATE: Final = "state.json"
#: The most seconds between two writes of ``state.json`` when nothing was uploaded: how far
#: behind a quiet primary's clock ``syncedTime`` may be (a restore point in the last
#: MARKER_REFRESH seconds of a quiet period may be refused until the next write).
MARKER_REFRESH: Final = 15.0


@dataclass(frozen=True)
class ArchiveState:
    """``state.json``: what the archive holds (module docstring)."""

    archived: GtidSet
    #: UNIX time of the last archived transaction
    last_time: int
    #: UNIX time (primary's clock) up to which the archive is complete; 0: not known yet
    synced_time: float
    #: server_uuid of the primary followed when it was written
    server: str
    #: (start, end) UNIX times of each gap: transactions after ``start`` (the marker before it)
    #: and before ``end`` (its discovery) may be missing from the archive
    gaps: tuple[tuple[float, float], ...] = ()


def parse_state(raw: bytes) -> ArchiveState:
    """``state.json``'s content (pure); :class:`BackupError` when it is not one."""
    try:
        doc = json.loads(raw)
        return ArchiveState(
            archived=GtidSet.parse(str(doc.get("archived") or "")),
            last_time=int(doc.get("lastTime") or 0),
            synced_time=float(doc.get("syncedTime") or 0.0),
            server=str(doc.get("server") or ""),
            gaps=tuple((float(a), float(b)) for a, b in doc.get("gaps") or []),
        )
    except (ValueError, TypeError, AttributeError) as e:
        raise BackupError(f"{STATE}: not an archive state ({e})") from e


async def read_state(bucket: Bucket, namespace: str, name: str) -> ArchiveState | None:
    """The archive's ``state.json`` (None: nothing was ever archived for the cluster)."""
    key = archive_prefix(namespace, name) + STATE
    if not await bucket.exists(key):
        return None
    return parse_state(await bucket.get_bytes(key))


@dataclass(frozen=True)
class Probe:
    """What the primary had committed at ``time`` (its clock), read before an upload."""

    time: float
    executed: GtidSet
    purged: GtidSet

    def covered(self, archived: GtidSet) -> bool:
        """Whether the archive holds every transaction of the probe that the primary's binlogs
        held (pure): then the archive is complete up to :attr:`time`."""
        return self.executed.subtract(self.purged).is_subset(archived)


def segment_key(
    namespace: str, name: str, run: str, file: str, offset: int, end: int, first: int, last: int
) -> str:
    """``run`` is ``<server_uuid>/<start time in ms>``."""
    return f"{archive_prefix(namespace, name)}{run}/{file}/{offset:016d}-{end:016d}-{first}-{last}"


@dataclass(frozen=True)
class Segment:
    """One archived piece of a binlog file."""

    key: str
    #: ``<server_uuid>/<start time in ms>``
    server: str
    file: str
    offset: int
    end: int
    first: int
    last: int


def parse_segment(key: str, prefix: str) -> Segment | None:
    """The segment at ``key`` (None for anything else under ``prefix``)."""
    rest = key[len(prefix) :] if key.startswith(prefix) else ""
    parts = rest.split("/")
    if len(parts) != 4:
        return None
    fields = parts[3].split("-")
    if len(fields) != 4 or not all(f.isdigit() for f in fields):
        return None
    off, end, first, last = (int(f) for f in fields)
    return Segment(key, f"{parts[0]}/{parts[1]}", parts[2], off, end, first, last)


def chain(segments: list[Segment]) -> list[Segment]:
    """The segments of one file that follow each other from offset 0 (pure)."""
    by_start: dict[int, Segment] = {}
    for s in segments:
        if s.end > s.offset and (s.offset not in by_start or s.end > by_start[s.offset].end):
            by_start[s.offset] = s
    out: list[Segment] = []
    pos = 0
    while pos in by_start:
        out.append(by_start[pos])
        pos = by_start[pos].end
    return out


def plan_replay(segments: list[Segment], after: int) -> list[tuple[str, str, list[Segment]]]:
    """Files to replay, in order: (server, file, its segments by offset) (pure).

    Files holding no transaction at or after ``after`` (a UNIX time) are left out; servers come
    in the order of their first archived transaction, files in binlog order.
    """
    files: dict[tuple[str, str], list[Segment]] = {}
    for s in segments:
        files.setdefault((s.server, s.file), []).append(s)
    first_of: dict[str, int] = {}
    for (server, _), segs in files.items():
        times = [s.first for s in segs if s.first]
        if times:
            first_of[server] = min([first_of.get(server, times[0]), *times])
    out = []
    for (server, file), segs in files.items():
        last = max(s.last for s in segs)
        if last == 0 or last < after:
            continue
        out.append((server, file, chain(segs)))
    out.sort(key=lambda t: (first_of.get(t[0], 0), t[0], binlog_order(t[1])))
    return out


class Archiver:
    """Follows the primary and ships its binlogs (module docstring). ``run`` until cancelled."""

    def __init__(
        self,
        bucket: Bucket,
        tools: Tools,
        work: Path,
        namespace: str,
        name: str,
        primary: Callable[[], Awaitable[Endpoint]],
        *,
        interval: float = 5.0,
        archived: str = "",
        on_gap: Callable[[str], Awaitable[None]] | None = None,
        marker_refresh: float = MARKER_REFRESH,
    ) -> None:
        self.bucket = bucket
        self.tools = tools
        self.work = work
        self.namespace = namespace
        self.name = name
        self.primary = primary
        self.interval = interval
        self.archived = GtidSet.parse(archived)
        self.on_gap = on_gap
        self.marker_refresh = marker_refresh
        #: UNIX time of the last archived transaction, and when it reached the bucket
        self.last_time = 0
        self.uploaded_at = 0.0
        #: UNIX time (primary's clock) up to which the archive is complete (module docstring)
        self.synced_time = 0.0
        self._probe: Probe | None = None
        self._saved_at = 0.0
        #: gaps found so far (:class:`ArchiveState`)
        self.gaps: list[tuple[float, float]] = []
        #: the most bytes of a file read at once (see :meth:`sync_once`)
        self.chunk = READ_CHUNK
        self._offsets: dict[str, int] = {}
        self._server = ""
        self._run = ""
        self._dir = work / "archive"

    async def _server_facts(self, ep: Endpoint) -> tuple[str, str, GtidSet]:
        """The primary's server_uuid, oldest binlog and gtid_purged."""
        async with await connect(ep, query_timeout=30.0) as c:
            row = await c.query_one("SELECT @@server_uuid AS u, @@global.gtid_purged AS p")
            logs = await c.query("SHOW BINARY LOGS")
        names = sort_binlogs([str(r["Log_name"]) for r in logs])
        if row is None or not names:
            raise BackupError(f"{ep.address}: no server_uuid or no binlogs")
        return str(row["u"]), names[0], GtidSet.parse(str(row["p"]))

    async def _gap(self, msg: str) -> None:
        """Report and record a gap (module docstring)."""
        log.error("archive gap", error=msg)
        self.gaps.append((self.synced_time, time.time()))
        await self._save_state()
        if self.on_gap is not None:
            await self.on_gap(msg)

    async def load_state(self) -> None:
        """The GTIDs archived so far, the last time and the marker, from ``state.json`` (if any)."""
        st = await read_state(self.bucket, self.namespace, self.name)
        if st is None:
            return
        self.archived = self.archived.union(st.archived)
        self.last_time = max(self.last_time, st.last_time)
        self.synced_time = max(self.synced_time, st.synced_time)
        self.gaps = sorted(set(self.gaps) | set(st.gaps))

    async def _save_state(self) -> None:
        doc = {
            "archived": str(self.archived),
            "lastTime": self.last_time,
            "syncedTime": round(self.synced_time, 3),
            "server": self._server,
            "gaps": [[round(a, 3), round(b, 3)] for a, b in self.gaps],
        }
        await self.bucket.put_bytes(
            archive_prefix(self.namespace, self.name) + STATE, json.dumps(doc).encode()
        )
        self._saved_at = time.monotonic()

    async def probe(self, ep: Endpoint) -> Probe | None:
        """The primary's committed GTIDs and clock (None when it does not answer: no marker
        progress this pass, the upload goes on)."""
        try:
            async with await connect(ep, timeout=5.0, query_timeout=10.0) as c:
                row = await c.query_one(
                    "SELECT @@global.gtid_executed AS g, @@global.gtid_purged AS p,"
                    " UNIX_TIMESTAMP(NOW(6)) AS t"
                )
        except MySQLError as e:
            log.warning("probing the primary failed: the marker waits", server=ep.address, error=str(e))
            return None
        if row is None:
            return None
        return Probe(float(row["t"]), GtidSet.parse(str(row["g"])), GtidSet.parse(str(row["p"])))

    async def sync_pass(self, ep: Endpoint) -> int:
        """One pass on the primary ``ep``: probe (unless one is pending), upload, advance the
        marker when the probe is covered; ``state.json`` is written when anything was uploaded
        or the marker is ``marker_refresh`` (:data:`MARKER_REFRESH`) seconds old. Returns the bytes sent."""
        if self._probe is None:
            self._probe = await self.probe(ep)
        sent = await self.sync_once(save=False)
        advanced = False
        if self._probe is not None and self._probe.covered(self.archived):
            advanced = self._probe.time > self.synced_time
            self.synced_time = max(self.synced_time, self._probe.time)
            self._probe = None
        stale = time.monotonic() - self._saved_at >= self.marker_refresh
        if sent or (advanced and stale):
            await self._save_state()
        return sent

    async def _follower(self, ep: Endpoint, first_file: str) -> asyncio.subprocess.Process:
        opts = client_options_file(self.work / "archiver-client.cnf", ep.user, ep.password)
        argv = [
            *self.tools.mysqlbinlog,
            f"--defaults-extra-file={opts}",
            "--host", ep.host, "--port", str(ep.port), "--protocol=tcp", "--get-server-public-key",
            "--read-from-remote-source=BINLOG-DUMP-GTIDS",
            f"--exclude-gtids={self.archived}",
            f"--connection-server-id={FOLLOWER_SERVER_ID}",
            "--raw", "--stop-never", f"--result-file={self._dir / self._run}/",
            first_file,
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=self.tools.environ(TMPDIR=str(self.work)),
        )
        await asyncio.sleep(0.5)
        opts.unlink(missing_ok=True)
        return proc

    async def sync_once(self, *, save: bool = True) -> int:
        """Upload what the local files gained (complete events only); returns the bytes sent.
        ``state.json`` is written after an upload when ``save``.

        A file is read from where its archived part ends, at most :attr:`chunk` bytes at a time
        (more only for one event larger than that): a busy primary's binlog grows to
        ``max_binlog_size`` (1 GiB by default), and reading it whole at every pass would cost
        that much memory and I/O every few seconds."""
        d = self._dir / self._run
        if not self._run or not d.is_dir():
            return 0
        names = sort_binlogs(os.listdir(d))
        sent = 0
        for i, fname in enumerate(names):
            path = d / fname
            size = path.stat().st_size
            while (off := self._offsets.get(fname, 0)) < size:
                data, sc = await asyncio.to_thread(read_events, path, off, self.chunk)
                if sc.end <= off:
                    break  # only an incomplete event: the rest comes later
                key = segment_key(
                    self.namespace, self.name, self._run, fname, off, sc.end, sc.first_time, sc.last_time
                )
                await self.bucket.put_bytes(key, data)
                sent += sc.end - off
                self._offsets[fname] = sc.end
                if sc.gtids:
                    self.archived = self.archived.union(gtid_set(sc.gtids))
                self.last_time = max(self.last_time, sc.last_time)
            if i < len(names) - 1 and self._offsets.get(fname, 0) == size:
                # a finished file (mysqlbinlog moved on) wholly archived: not needed locally
                path.unlink(missing_ok=True)
        if sent:
            self.uploaded_at = time.time()
            if save:
                await self._save_state()
        return sent

    async def _moved(self, ep: Endpoint) -> bool:
        """Whether the primary is another server now. A failed lookup (the API or the Pod in a
        hiccup) is no move: the follower goes on, and ends by itself if its server is gone."""
        try:
            return (await self.primary()) != ep
        except (MySQLError, BackupError) as e:
            log.warning("looking up the primary failed: still following", server=ep.address, error=str(e))
            return False

    async def run(self) -> None:
        """Follow the primary until cancelled (module docstring)."""
        await self.load_state()
        while True:
            try:
                ep = await self.primary()
                server, oldest, purged = await self._server_facts(ep)
            except (MySQLError, BackupError) as e:
                log.warning("primary not reachable: retrying", error=str(e))
                await asyncio.sleep(self.interval)
                continue
            self._server = server
            if not self.archived:
                # a first start: what is purged already predates the archive (no gap), and is
                # counted archived as it is in no binlog to archive
                self.archived = purged
            lost = purged.subtract(self.archived)
            if lost:
                await self._gap(
                    f"binlogs of transactions not archived yet were purged on {ep.address}: "
                    f"{str(lost)[:300]}; restore points after "
                    f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.synced_time))} "
                    f"need a backup taken after now"
                )
                # excluded from now on: they are in no binlog any more
                self.archived = self.archived.union(lost)
            self._run = f"{server}/{int(time.time() * 1000):013d}"
            self._offsets = {}
            self._probe = None
            shutil.rmtree(self._dir, ignore_errors=True)
            os.makedirs(self._dir / self._run, exist_ok=True)
            proc = await self._follower(ep, oldest)
            log.info("archiving binlogs", server=ep.address, uuid=server, archived=str(self.archived)[:200])
            try:
                while proc.returncode is None:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.interval):
                            await proc.wait()
                    await self.sync_pass(ep)
                    if proc.returncode is None and await self._moved(ep):
                        log.info("the primary changed: following the new one")
                        break
            finally:
                if proc.returncode is None:
                    proc.terminate()
                    with contextlib.suppress(ProcessLookupError):
                        await proc.wait()
            await self.sync_once()
            err = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
            if "purged" in err.lower():
                await self._gap(
                    f"binlogs with GTIDs not yet archived were purged on {ep.address}: {err.strip()[-300:]}"
                )
                self.archived = GtidSet()
            await asyncio.sleep(min(self.interval, 1.0))


async def fetch_archive(bucket: Bucket, namespace: str, name: str, after: int, dest: Path) -> list[Path]:
    """Rebuild the archived files holding transactions from ``after`` on, in replay order."""
    prefix = archive_prefix(namespace, name)
    segs = [s for k in await bucket.list(prefix) if (s := parse_segment(k, prefix)) is not None]
    out: list[Path] = []
    for server, file, parts in plan_replay(segs, after):
        path = dest / server / file
        os.makedirs(path.parent, exist_ok=True)
        with path.open("wb") as f:
            for s in parts:
                data = await bucket.get_bytes(s.key)
                if len(data) != s.end - s.offset:
                    raise BackupError(f"{s.key}: {len(data)} bytes, the key says {s.end - s.offset}")
                f.write(data)
        out.append(path)
    return out


__all__ = [
    "ARCHIVE_DIR",
    "MARKER_REFRESH",
    "ArchiveState",
    "Archiver",
    "Probe",
    "Segment",
    "archive_prefix",
    "chain",
    "fetch_archive",
    "parse_segment",
    "parse_state",
    "plan_replay",
    "read_state",
    "segment_key",
]
