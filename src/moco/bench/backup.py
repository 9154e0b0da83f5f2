"""``make bench-backup``: the backup engine against mysqldump / mysql reload, side by side.

On real mysqld 9.7 (the test ground) and a real object store on loopback (versitygw from
:mod:`moco.testing.objectstore`; obstore's LocalStore when versitygw is not installed, said so
in the output):

1. ``SIZE_MB`` (default 1024) of InnoDB data is generated in one source server: tables of
   random rows (integers, hex strings, text), so the figures are not those of zeros.
2. ``mysqldump --single-transaction --source-data=2 --set-gtid-purged=ON`` of those schemas,
   then its reload with ``mysql`` into a fresh server: ``mysqldump_mb_s``, ``mysql_reload_mb_s``.
3. Our backup of the same source (CLONE into a scratch mysqld, its files packed as tar.zst and
   uploaded by multipart while CLONE lands them, :mod:`moco.backup.streamcopy`) and our restore
   of it into a fresh server, in place (unpacked beside the target, swapped in while it is
   stopped, started on it: :mod:`moco.backup.inplace`, as a restore may when it can stop and
   start the target's mysqld): ``backup_mb_s``, ``restore_mb_s``; and the restore a cluster's
   Job does (download, scratch mysqld on the copy, CLONE into the target):
   ``restore_by_clone_mb_s``.
4. Point in time: after that backup, batch A of small transactions, a restore point T, batch B;
   a second backup uploads the binlogs; a restore to T into a fresh server must hold exactly
   batch A (``pitr_exact``); its binlog replay gives ``binlog_replay_tx_s``.

5. Continuous archiving: an archiver follows the source (uploads every 5 s) under steady writes
   (10 transactions/s, ``--rpo-seconds``): ``rpo_p99_s`` (now - time of the newest archived
   transaction, sampled every 0.5 s once the archiver has shipped the binlogs the source already
   held: ``archive_catch_up_s``) and a restore past the last backup (``pitr_archive_exact``).

Every MB/s is the generated data's size (InnoDB data + indexes of the tables, as
information_schema reports it) over the wall time of the operation, so the four are comparable.
The backup's scratch server starts from a template data directory made before the timing, as
a Job given ``MOCO_BACKUP_SCRATCH_TEMPLATE`` does; without one a backup runs ``mysqld
--initialize`` first (2-4 s, the ``scratch_init`` phase).

Where the CPU goes is printed too (``backup_cpu_s``, ``restore_cpu_s``): CPU seconds of the
source (or target) mysqld, of the S3 server, of this process's Python threads and HTTP client
threads, and of the processes it ran meanwhile (the scratch mysqld that receives CLONE), from
``/proc``; against the wall time of two cores they say whether a step was bound by CPU.

Where the backup's and the restore's time goes is printed on stderr, phase by phase
(:mod:`moco.backup.phases`: scratch server start, CLONE and its stages, packing and upload with
the packers' read / zstd / wait-for-upload thread seconds, download with the unpackers' wait /
zstd / write seconds, the target's restart and recovery), and is in the JSON
(``backup_phases_s``, ``restore_phases_s``), with the machine's load average after each timed
operation (``load_1m``): on a shared machine every figure is read with it.

The last line is one JSON object. Not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from obstore.store import LocalStore

from moco.backup.archiver import Archiver
from moco.backup.backup import BackupRequest, BinlogRange, prepare_template, run_backup
from moco.backup.bucket import Bucket, BucketConfig, open_bucket
from moco.backup.restore import RestoreRequest, run_restore
from moco.backup.scratch import Tools
from moco.bench.stats import pct
from moco.log import setup
from moco.mysql import ops
from moco.mysql.conn import Endpoint, connect
from moco.mysql.gtid import GtidSet
from moco.testing import objectstore
from moco.testing.mysqld import Mysqld, MysqldGround
from moco.testing.mysqltools import tools_from_root

#: A bigger buffer pool and redo log than the test ground's: the data is generated faster.
SERVER_ARGS = ("--innodb-buffer-pool-size=512M", "--innodb-redo-log-capacity=1G", "--sync-binlog=0")
TABLES = 4
ROW_SQL = (
    "SELECT FLOOR(RAND() * 1e9), SHA2(RAND(), 256), "
    "CONCAT(SHA2(RAND(), 256), SHA2(RAND(), 256), REPEAT(CHAR(97 + FLOOR(RAND() * 26)), 96))"
)


class GroundTarget:
    """A test-ground mysqld as a :class:`moco.backup.inplace.LocalTarget`: this process stops it
    and starts it, so a whole restore into it is done in place (one copy, one start)."""

    def __init__(self, m: Mysqld) -> None:
        self.m = m

    @property
    def datadir(self) -> Path:
        return self.m.datadir

    async def stop(self) -> None:
        # its data is replaced next: a kill spares the shutdown's flush
        await asyncio.to_thread(self.m.kill)

    async def start(self, init_file: Path) -> None:
        base = self.m.extra_args
        self.m.extra_args = (*base, f"--init-file={init_file}")
        try:
            self.m.start()
        finally:
            # the init file is for this start alone (it is removed once the server is up)
            self.m.extra_args = base


_TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(path: Path) -> tuple[str, float]:
    """A process's or thread's name and CPU seconds (user + system) from its ``stat`` file."""
    text = path.read_text()
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, (int(fields[11]) + int(fields[12])) / _TICK


def thread_group(name: str) -> str:
    """Which part of this process a thread is, by its kernel name (pure): obstore's HTTP client
    runs on tokio's threads (``tokio-runtime-w``); Python's threads (the event loop, the packing
    and unpacking threads, whose own CPU the phases report as ``upload.cpu`` / ``download.cpu``)
    all carry the interpreter's name."""
    return "http_client" if name.startswith("tokio") else "python"


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far: of each named process (``pids``), of this process's threads by
    :func:`thread_group`, and of this process's waited-for children (the scratch mysqld)."""
    out: dict[str, float] = {}
    for what, pid in pids.items():
        with contextlib.suppress(OSError, ValueError):
            out[what] = _stat_cpu(Path(f"/proc/{pid}/stat"))[1]
    # the process's own figure keeps the CPU of threads that ended; the groups but Python's are
    # summed over the threads that live, and Python's is the rest
    own = _stat_cpu(Path("/proc/self/stat"))[1]
    groups: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            name, sec = _stat_cpu(task / "stat")
            group = thread_group(name)
            groups[group] = groups.get(group, 0.0) + sec
    groups.pop("python", None)
    out |= groups
    out["python"] = own - sum(groups.values())
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["children"] = ru.ru_utime + ru.ru_stime
    return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent between two snapshots, per entry (pure; an entry that went down, as a
    group whose thread ended, counts 0)."""
    return {k: round(max(after.get(k, 0.0) - v, 0.0), 2) for k, v in before.items()} | {
        k: round(v, 2) for k, v in after.items() if k not in before
    }


def _fmt(timings: dict[str, float]) -> str:
    top = {k: v for k, v in timings.items() if "." not in k}
    return "(" + ", ".join(f"{k} {v:.1f}s" for k, v in top.items()) + ")"


def phase_lines(what: str, total: float, timings: dict[str, float]) -> list[str]:
    """One line per phase: its seconds and share of ``total``; sub-phases (``clone.file_copy``,
    ``upload.zstd``...) indented under their phase. Stream counters are thread seconds summed
    over the parallel parts, so they may add up to more than their phase's wall time."""
    lines = [f"{what} phases ({total:.2f}s wall):"]
    for name, sec in timings.items():
        head, _, sub = name.partition(".")
        label = f"    {sub}" if sub else head
        share = f"{100 * sec / total:5.1f} %" if total > 0 and not sub else ""
        lines.append(f"  {label:<16} {sec:7.2f}s {share}".rstrip())
    return lines


def report_phases(what: str, total: float, timings: dict[str, float]) -> None:
    """The phase breakdown on stderr (stdout keeps the summary lines and the last JSON line)."""
    print("\n".join(phase_lines(what, total, timings)), file=sys.stderr, flush=True)


def report_cpu(what: str, wall: float, cpu: dict[str, float]) -> None:
    """CPU seconds per process / thread group on stderr, against the cores the wall time had."""
    total = sum(cpu.values())
    cores = os.cpu_count() or 1
    lines = [f"{what} CPU: {total:.2f}s of {wall * cores:.2f} core seconds ({cores} cores x {wall:.2f}s)"]
    lines += [f"  {k:<16} {v:7.2f}s" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])]
    print("\n".join(lines), file=sys.stderr, flush=True)


def say(msg: str) -> None:
    print(msg, flush=True)


async def generate(ep: Endpoint, size_mb: int) -> float:
    """``size_mb`` MB of rows in ``bench.t0..tN``; returns the tables' size in MB."""
    async with await connect(ep, query_timeout=3600) as c:
        await ops.install_plugins(c)
        await ops.set_writable(c)
        await c.execute("CREATE DATABASE bench")
        await c.execute("USE bench")
        per_table = size_mb / TABLES
        for i in range(TABLES):
            await c.execute(
                f"CREATE TABLE bench.t{i} (id BIGINT AUTO_INCREMENT PRIMARY KEY, a INT, b CHAR(64),"
                " c VARCHAR(255), KEY (a))"
            )
            await c.execute(f"INSERT INTO bench.t{i} (a, b, c) {ROW_SQL} FROM DUAL")
            rows = 1
            # about 500 bytes per row with the secondary index
            target = int(per_table * 1024 * 1024 / 500)
            while rows < target:
                n = min(rows, target - rows)
                await c.execute(f"INSERT INTO bench.t{i} (a, b, c) {ROW_SQL} FROM bench.t{i} LIMIT {n}")
                rows += n
        await c.execute("ANALYZE TABLE " + ", ".join(f"bench.t{i}" for i in range(TABLES)))
        row = await c.query_one(
            "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) AS s FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = 'bench'"
        )
    return int(row["s"] if row else 0) / 1e6


def _client_file(path: Path, ep: Endpoint) -> Path:
    path.write_text(f'[client]\nuser="{ep.user}"\npassword="{ep.password}"\n')
    path.chmod(0o600)
    return path


def mysqldump(tools: Tools, ep: Endpoint, out: Path, work: Path) -> float:
    cnf = _client_file(work / "dump.cnf", ep)
    t = time.monotonic()
    with out.open("wb") as f:
        subprocess.run(
            [
                *_argv(tools.mysqldump, cnf),
                "--host",
                ep.host,
                "--port",
                str(ep.port),
                "--protocol=tcp",
                "--single-transaction",
                "--source-data=2",
                "--set-gtid-purged=ON",
                "--databases",
                "bench",
            ],
            stdout=f,
            check=True,
            timeout=7200,
            env=tools.environ(),
        )
    return time.monotonic() - t


def _argv(prefix: tuple[str, ...], cnf: Path) -> list[str]:
    """The program's argv; ``--defaults-extra-file`` must be its first option."""
    return [*prefix, f"--defaults-extra-file={cnf}"]


def reload(tools: Tools, ep: Endpoint, dump: Path, work: Path) -> float:
    cnf = _client_file(work / "load.cnf", ep)
    t = time.monotonic()
    with dump.open("rb") as f:
        subprocess.run(
            [*_argv(tools.mysql, cnf), "--host", ep.host, "--port", str(ep.port), "--protocol=tcp"],
            stdin=f,
            check=True,
            timeout=7200,
            env=tools.environ(),
        )
    return time.monotonic() - t


async def writable(m: Mysqld) -> None:
    async with await connect(m.endpoint()) as c:
        await ops.install_plugins(c)
        await ops.set_writable(c)


async def small_transactions(ep: Endpoint, first: int, n: int) -> None:
    async with await connect(ep) as c:
        for i in range(first, first + n):
            await c.execute("INSERT INTO pitr.t (id) VALUES (%s)", (i,))


async def steady_writes(ep: Endpoint, first: int, seconds: float, rate: float) -> int:
    """Single-row transactions at ``rate`` per second for ``seconds``; returns the next id."""
    n = first
    end = time.monotonic() + seconds
    async with await connect(ep) as c:
        while time.monotonic() < end:
            await c.execute("INSERT INTO pitr.a (id) VALUES (%s)", (n,))
            n += 1
            await asyncio.sleep(1 / rate)
    return n


async def archive_phase(
    bucket: Bucket, tools: Tools, src: Mysqld, target: Mysqld, work: Path, seconds: float
) -> tuple[list[float], bool, float]:
    """Continuous archiving under steady writes: RPO samples, a restore past the last backup, and
    the seconds the archiver took to ship the binlogs the source held when it started.

    RPO at an instant = now - time of the newest transaction archived in the bucket (binlog
    timestamps have whole seconds: a sample may be up to 1 s pessimistic). It is sampled once
    the archiver has caught up with the source's existing binlogs (the generated data, ~1 GB of
    binlogs: shipping that backlog is reported apart as ``archive_catch_up_s``), so that it is
    the recovery point under steady writes, as the issue defines it.
    """

    async def primary() -> Endpoint:
        return src.endpoint()

    a = Archiver(bucket, tools, work / "archive", "bench", "c", primary, interval=5.0)
    newest = int(time.time())  # the CREATE TABLE below is the newest event: its time is >= this
    async with await connect(src.endpoint()) as c:
        await c.execute("CREATE TABLE pitr.a (id INT PRIMARY KEY)")
    t0 = time.monotonic()
    task = asyncio.create_task(a.run())
    while a.last_time < newest:
        if task.done():
            await task  # raises what ended it
            raise RuntimeError("the archiver ended before it caught up")
        if time.monotonic() - t0 > 1800:
            raise RuntimeError("the archiver did not catch up with the existing binlogs in 30 min")
        await asyncio.sleep(0.2)
    catch_up = time.monotonic() - t0
    say(f"archive: caught up with the existing binlogs in {catch_up:.1f}s")
    samples: list[float] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            if a.last_time:
                samples.append(max(time.time() - a.last_time, 0.0))

    sampler = asyncio.create_task(sample())
    try:
        await asyncio.sleep(3)
        half = seconds / 2
        n = await steady_writes(src.endpoint(), 0, half, 10)
        await asyncio.sleep(1.05 - datetime.now(UTC).microsecond / 1e6)
        point = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(1.05)
        await steady_writes(src.endpoint(), n, half, 10)
        await asyncio.sleep(a.interval + 2)
    finally:
        stop.set()
        await sampler
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await run_restore(
        RestoreRequest("bench", "c", point, target.endpoint(), work / "r3", local=GroundTarget(target)),
        bucket,
        tools,
    )
    async with await connect(target.endpoint()) as c:
        ids = [int(r["id"]) for r in await c.query("SELECT id FROM pitr.a ORDER BY id")]
    exact = ids == list(range(n))
    say(
        f"archive: RPO p50 {pct(samples, 50):.1f}s p99 {pct(samples, 99):.1f}s over {len(samples)} samples; "
        f"restore past the last backup: {len(ids)} rows (expected {n})"
    )
    return samples, exact, catch_up


async def open_store(work: Path) -> tuple[Bucket, str, objectstore.ObjectStore | None]:
    try:
        store = await asyncio.to_thread(objectstore.start, "s3")
    except (objectstore.NotInstalled, OSError, subprocess.CalledProcessError) as e:
        say(f"versitygw unavailable ({e}): using obstore's LocalStore")
        d = work / "bucket"
        d.mkdir()
        return Bucket(LocalStore(d), name="local"), "localstore", None
    cfg = BucketConfig(
        name=store.bucket, endpoint_url=store.endpoint, region=store.region, use_path_style=store.path_style
    )
    return open_bucket(cfg, dict(store.env)), "versitygw", store


async def run(size_mb: int, threads: int, batch: int, rpo_seconds: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="moco-bench-backup-"))
    ground = MysqldGround()
    store: objectstore.ObjectStore | None = None
    tools = tools_from_root(ground.root)
    try:
        bucket, store_kind, store = await open_store(work)
        src, dump_target, t_restore, t_clone, t_pitr, t_archive = [
            ground.new_instance(extra_args=SERVER_ARGS) for _ in range(6)
        ]
        await asyncio.gather(
            *(m.wait_ready(120) for m in (src, dump_target, t_restore, t_clone, t_pitr, t_archive))
        )
        t = time.monotonic()
        data_mb = await generate(src.endpoint(), size_mb)
        say(f"generated {data_mb:.0f} MB of InnoDB data in {time.monotonic() - t:.0f}s")

        dump = work / "dump.sql"
        #: the machine's 1-minute load average after each timed operation (the figures of a
        #: shared machine are read with it)
        load: dict[str, float] = {}
        dump_s = await asyncio.to_thread(mysqldump, tools, src.endpoint(), dump, work)
        load["mysqldump"] = os.getloadavg()[0]
        say(f"mysqldump: {dump_s:.1f}s, {dump.stat().st_size / 1e6:.0f} MB file, {data_mb / dump_s:.1f} MB/s")
        await writable(dump_target)
        reload_s = await asyncio.to_thread(reload, tools, dump_target.endpoint(), dump, work)
        load["mysql_reload"] = os.getloadavg()[0]
        say(f"mysql reload: {reload_s:.1f}s, {data_mb / reload_s:.1f} MB/s")
        dump.unlink()
        await asyncio.to_thread(dump_target.kill)

        # the scratch server's template is made once, as the backup image ships it
        template = work / "scratch-template"
        await prepare_template(tools, template, work / "template-work")
        pids = {"donor_mysqld": src.pid or 0} | ({"store_server": store.pid} if store else {})
        cpu0 = cpu_snapshot(pids)
        t = time.monotonic()
        r1 = await run_backup(
            BackupRequest(
                "bench", "c", src.endpoint(), work / "b1", threads=threads, scratch_template=template
            ),
            bucket,
            tools,
        )
        backup_s = time.monotonic() - t
        backup_cpu = cpu_delta(cpu0, cpu_snapshot(pids))
        load["backup"] = os.getloadavg()[0]
        say(
            f"backup: {backup_s:.1f}s {_fmt(r1.timings)}, {r1.raw_size / 1e6:.0f} MB copied, "
            f"{r1.dump_size / 1e6:.0f} MB stored ({store_kind}), {data_mb / backup_s:.1f} MB/s"
        )
        report_phases("backup", backup_s, r1.timings)
        report_cpu("backup", backup_s, backup_cpu)
        pids = {"target_mysqld": t_restore.pid or 0} | ({"store_server": store.pid} if store else {})
        cpu0 = cpu_snapshot(pids)
        t = time.monotonic()
        res = await run_restore(
            RestoreRequest(
                "bench", "c", r1.time, t_restore.endpoint(), work / "r1", threads=threads,
                local=GroundTarget(t_restore),
            ),
            bucket,
            tools,
        )  # fmt: skip
        restore_s = time.monotonic() - t
        restore_cpu = cpu_delta(cpu0, cpu_snapshot(pids | {"target_mysqld": t_restore.pid or 0}))
        load["restore"] = os.getloadavg()[0]
        say(f"restore (in place): {restore_s:.1f}s {_fmt(res.timings)}, {data_mb / restore_s:.1f} MB/s")
        report_phases("restore", restore_s, res.timings)
        report_cpu("restore", restore_s, restore_cpu)
        await asyncio.to_thread(t_restore.kill)
        # the restore a cluster's Job does (it cannot stop instance 0's mysqld): by CLONE
        t = time.monotonic()
        rc = await run_restore(
            RestoreRequest("bench", "c", r1.time, t_clone.endpoint(), work / "rc", threads=threads),
            bucket,
            tools,
        )
        clone_restore_s = time.monotonic() - t
        load["restore_by_clone"] = os.getloadavg()[0]
        say(
            f"restore (by CLONE): {clone_restore_s:.1f}s {_fmt(rc.timings)}, "
            f"{data_mb / clone_restore_s:.1f} MB/s"
        )
        report_phases("restore by CLONE", clone_restore_s, rc.timings)
        await asyncio.to_thread(t_clone.kill)

        async with await connect(src.endpoint()) as c:
            await c.execute("CREATE DATABASE pitr")
            await c.execute("CREATE TABLE pitr.t (id INT PRIMARY KEY)")
        await small_transactions(src.endpoint(), 0, batch)
        await asyncio.sleep(1.05 - datetime.now(UTC).microsecond / 1e6)
        point = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(1.05)
        await small_transactions(src.endpoint(), batch, batch)
        await asyncio.sleep(1.0)
        rng = BinlogRange(start_file=r1.binlog_filename, exclude_gtids=r1.gtid_set, last_time=r1.time)
        await run_backup(
            BackupRequest("bench", "c", src.endpoint(), work / "b2", binlogs=rng, threads=threads),
            bucket,
            tools,
        )
        p = await run_restore(
            RestoreRequest(
                "bench",
                "c",
                point,
                t_pitr.endpoint(),
                work / "r2",
                threads=threads,
                local=GroundTarget(t_pitr),
            ),
            bucket,
            tools,
        )
        async with await connect(t_pitr.endpoint()) as c:
            ids = [int(r["id"]) for r in await c.query("SELECT id FROM pitr.t ORDER BY id")]
            row = await c.query_one("SELECT @@global.gtid_executed AS g")
        applied = GtidSet.parse(str(row["g"] if row else "")).count() - GtidSet.parse(p.copy_gtid).count()
        replay_s = p.replayed.seconds if p.replayed else float("nan")
        pitr_exact = ids == list(range(batch))
        say(f"pitr: {len(ids)} rows (expected {batch}), {applied} transactions replayed in {replay_s:.2f}s")
        rpo, archive_exact, catch_up = await archive_phase(bucket, tools, src, t_archive, work, rpo_seconds)
        return {
            "size_mb": round(data_mb, 1),
            "store": store_kind,
            "backup_mb_s": round(data_mb / backup_s, 1),
            "restore_mb_s": round(data_mb / restore_s, 1),
            "mysqldump_mb_s": round(data_mb / dump_s, 1),
            "mysql_reload_mb_s": round(data_mb / reload_s, 1),
            "backup_vs_mysqldump": round(dump_s / backup_s, 2),
            "restore_vs_reload": round(reload_s / restore_s, 2),
            "restore_by_clone_mb_s": round(data_mb / clone_restore_s, 1),
            "binlog_replay_tx_s": round(applied / replay_s, 1) if replay_s > 0 else None,
            "pitr_exact": pitr_exact,
            "rpo_p99_s": round(pct(rpo, 99), 2) if rpo else None,
            "rpo_p50_s": round(pct(rpo, 50), 2) if rpo else None,
            "archive_catch_up_s": round(catch_up, 1),
            "pitr_archive_exact": archive_exact,
            "backup_phases_s": {k: round(v, 2) for k, v in r1.timings.items()},
            "restore_phases_s": {k: round(v, 2) for k, v in res.timings.items()},
            "backup_cpu_s": backup_cpu,
            "restore_cpu_s": restore_cpu,
            "restore_by_clone_phases_s": {k: round(v, 2) for k, v in rc.timings.items()},
            "load_1m": {k: round(v, 1) for k, v in load.items()},
            "cpus": os.cpu_count(),
        }
    finally:
        await asyncio.to_thread(ground.close)
        if store is not None:
            await asyncio.to_thread(store.stop)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m moco.bench.backup", description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=int(os.environ.get("SIZE_MB", "1024")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2000, help="small transactions before and after the point")
    ap.add_argument(
        "--rpo-seconds", type=float, default=60.0, help="steady writes under continuous archiving"
    )
    a = ap.parse_args()
    setup(level="WARNING")
    out = asyncio.run(run(a.size_mb, a.threads, a.batch, a.rpo_seconds))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
