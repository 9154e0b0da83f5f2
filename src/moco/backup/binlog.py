"""Binary logs: copied raw from a server since a GTID set, and replayed up to a point in time.

Copy (MOCO's): ``mysqlbinlog --read-from-remote-source=BINLOG-DUMP-GTIDS --exclude-gtids=<last
backup's set> --to-last-log --raw`` from the file the last backup recorded: the files written
since the last backup, whole, as the server wrote them.

Replay: ``mysqlbinlog [--stop-datetime=T] [--database=S] FILES | mysql --binary-mode`` into the
target. Every transaction carries its GTID: those the copy holds are left out by mysqlbinlog
(``--exclude-gtids``), any other the target holds already is skipped by the server, so replaying
from an earlier file than needed is harmless. ``--stop-datetime``
stops at the first event at or after T (MOCO's restore point, whole seconds, UTC).

Both run as child processes with the password in a 0600 option file, under a bound, and are
killed when the caller is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from moco.backup.errors import ToolFailed
from moco.backup.layout import sort_binlogs
from moco.backup.scratch import Tools, client_options_file, run_tool
from moco.log import get_logger
from moco.mysql.conn import Endpoint

log = get_logger("moco.backup.binlog")

#: A bound on copying or replaying binlogs (a backstop: the data size decides).
TOOL_BOUND: Final = 24 * 3600.0


async def dump_binlogs(
    tools: Tools,
    source: Endpoint,
    dest: Path,
    *,
    start_file: str,
    exclude_gtids: str,
    work: Path,
    timeout: float = TOOL_BOUND,  # noqa: ASYNC109
) -> list[str]:
    """Copy the source's binlogs from ``start_file`` on into ``dest``; returns the file names."""
    os.makedirs(dest, exist_ok=True)
    opts = client_options_file(work / "binlog-client.cnf", source.user, source.password)
    try:
        await run_tool(
            [
                *tools.mysqlbinlog,
                f"--defaults-extra-file={opts}",
                "--host",
                source.host,
                "--port",
                str(source.port),
                "--protocol=tcp",
                "--get-server-public-key",
                "--read-from-remote-source=BINLOG-DUMP-GTIDS",
                f"--exclude-gtids={exclude_gtids}",
                "--to-last-log",
                "--raw",
                f"--result-file={dest}/",
                start_file,
            ],
            env=tools.environ(TMPDIR=str(work)),
            timeout=timeout,
            what="mysqlbinlog (binlog copy)",
        )
    finally:
        opts.unlink(missing_ok=True)
    return sort_binlogs(os.listdir(dest))


@dataclass(frozen=True)
class Replayed:
    """How much a replay decoded (bytes of binlog files) and how long it took."""

    files: int
    bytes: int
    seconds: float


def stop_datetime(t: datetime) -> str:
    """``--stop-datetime`` of a restore point (mysqlbinlog reads it in TZ=UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


async def replay_binlogs(
    tools: Tools,
    files: Sequence[Path],
    target: Endpoint,
    *,
    work: Path,
    stop_at: datetime | None = None,
    database: str = "",
    exclude_gtids: str = "",
    timeout: float = TOOL_BOUND,  # noqa: ASYNC109
) -> Replayed:
    """Pipe ``mysqlbinlog FILES`` into ``mysql`` on ``target`` (see the module docstring)."""
    if not files:
        return Replayed(0, 0, 0.0)
    started = asyncio.get_running_loop().time()
    decode = [*tools.mysqlbinlog]
    if stop_at is not None:
        decode.append(f"--stop-datetime={stop_datetime(stop_at)}")
    if database:
        decode.append(f"--database={database}")
    if exclude_gtids:
        # what the target holds already is left out by the decoder itself: never sent, however big
        decode.append(f"--exclude-gtids={exclude_gtids}")
    decode.extend(str(f) for f in files)
    opts = client_options_file(work / "replay-client.cnf", target.user, target.password)
    apply = [
        *tools.mysql,
        f"--defaults-extra-file={opts}",
        "--binary-mode",
        "--max-allowed-packet=1G",
        "--host",
        target.host,
        "--port",
        str(target.port),
        "--protocol=tcp",
    ]
    env = tools.environ(TMPDIR=str(work))
    reader, writer = _pipe()
    dec = await asyncio.create_subprocess_exec(
        *decode, stdout=writer, stderr=asyncio.subprocess.PIPE, env=env
    )
    app = await asyncio.create_subprocess_exec(
        *apply, stdin=reader, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env
    )
    _close(reader, writer)
    try:
        async with asyncio.timeout(timeout):
            (_, dec_err), (_, app_err) = await asyncio.gather(dec.communicate(), app.communicate())
    except BaseException:
        for p in (dec, app):
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            await p.wait()
        raise
    finally:
        opts.unlink(missing_ok=True)
    if app.returncode != 0:
        raise ToolFailed(
            f"mysql (binlog replay) exited with {app.returncode}: {app_err.decode(errors='replace')[-2000:]}"
        )
    if dec.returncode != 0:
        raise ToolFailed(
            f"mysqlbinlog exited with {dec.returncode}: {dec_err.decode(errors='replace')[-2000:]}"
        )
    size = sum(f.stat().st_size for f in files)
    took = asyncio.get_running_loop().time() - started
    log.info("binlogs replayed", files=len(files), bytes=size, seconds=round(took, 2), target=target.address)
    return Replayed(len(files), size, took)


def _pipe() -> tuple[int, int]:
    return os.pipe()


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


__all__ = ["Replayed", "dump_binlogs", "replay_binlogs", "stop_datetime"]
