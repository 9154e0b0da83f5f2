"""Rotation of mysqld's slow log and error log.

A rotation renames ``mysql.slow`` to ``mysql.slow.0`` (and ``mysql.err`` to ``mysql.err.0``),
replacing the previous ``.0``, then tells mysqld to reopen its files (``FLUSH LOCAL SLOW LOGS``,
``FLUSH LOCAL ERROR LOGS``; LOCAL keeps the statement out of the binary log). A file that does
not exist is skipped (the error log goes to stderr unless configured otherwise).

:func:`rotation_loop` rotates at every firing of the cron schedule (``logRotationSchedule``)
and, when ``size_limit`` is set (``logRotationSize``), whenever a file grows beyond it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from moco import constants
from moco.agent.cron import Schedule
from moco.agent.metrics import AgentMetrics
from moco.log import get_logger
from moco.mysql.conn import Connection
from moco.mysql.errors import MySQLError

log = get_logger("moco.agent.rotate")

_FILES = (
    (constants.MYSQL_SLOW_LOG_NAME, "FLUSH LOCAL SLOW LOGS"),
    (constants.MYSQL_ERROR_LOG_NAME, "FLUSH LOCAL ERROR LOGS"),
)


def log_files(log_dir: Path) -> list[Path]:
    """The files a rotation handles."""
    return [log_dir / name for name, _ in _FILES]


async def rotate_logs(conn: Connection, log_dir: Path) -> list[str]:
    """Rotate the files present in ``log_dir``; returns the names rotated."""
    rotated: list[str] = []
    for name, flush in _FILES:
        path = log_dir / name
        if not path.exists():
            continue
        os.replace(path, log_dir / f"{name}.0")
        await conn.execute(flush)
        rotated.append(name)
    return rotated


def oversized(log_dir: Path, size_limit: int) -> bool:
    """Whether a log file is larger than ``size_limit`` bytes (0 disables the check)."""
    if size_limit <= 0:
        return False
    for path in log_files(log_dir):
        try:
            if path.stat().st_size > size_limit:
                return True
        except FileNotFoundError:
            continue
    return False


async def rotate_once(
    get_conn: Callable[[], Awaitable[Connection]], log_dir: Path, metrics: AgentMetrics
) -> bool:
    """One rotation with its metrics; errors are logged and counted, not raised."""
    start = time.monotonic()
    metrics.log_rotation_count.inc()
    try:
        conn = await get_conn()
        rotated = await rotate_logs(conn, log_dir)
    except (MySQLError, OSError) as e:
        metrics.log_rotation_failure_count.inc()
        log.warning("log rotation failed", error=str(e))
        return False
    metrics.log_rotation_duration.observe(time.monotonic() - start)
    log.info("logs rotated", files=rotated)
    return True


async def rotation_loop(
    get_conn: Callable[[], Awaitable[Connection]],
    log_dir: Path,
    schedule: Schedule,
    metrics: AgentMetrics,
    *,
    size_limit: int = 0,
    size_check_interval: float = 10.0,
) -> None:
    """Rotate on the schedule and on size, until cancelled."""
    next_fire = schedule.next_after(datetime.now(UTC))
    while True:
        now = datetime.now(UTC)
        wait = (next_fire - now).total_seconds()
        if size_limit > 0:
            wait = min(wait, size_check_interval)
        await asyncio.sleep(max(wait, 0.0))
        now = datetime.now(UTC)
        if now >= next_fire:
            next_fire = schedule.next_after(now)
            await rotate_once(get_conn, log_dir, metrics)
        elif oversized(log_dir, size_limit):
            await rotate_once(get_conn, log_dir, metrics)
