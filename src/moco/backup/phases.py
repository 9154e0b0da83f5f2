"""Where a backup's or a restore's wall time goes: named phases, and CLONE's own stages.

:class:`Phases` adds up the wall seconds spent in each named phase of a run (``with
phases("clone"): ...``); a phase entered twice is the sum of both. The names are part of the
results (``BackupResult.timings``, ``RestoreResult.timings``), the benchmark's output and the
``backup finished`` / ``restore finished`` log lines, so they are stable words. A name with a
dot is a part of the phase before the dot: ``clone.file_copy`` (below), or ``upload.zstd`` /
``download.write``, the thread seconds of a streamed copy's stages summed over its parallel
parts (:class:`moco.backup.archive.PipeStats`), which may add up to more than the phase's wall
time.

:func:`clone_stages` reads ``performance_schema.clone_progress`` of a clone's *recipient* after
the clone: MySQL's own begin and end times of each stage (DROP DATA, FILE COPY, PAGE COPY,
REDO COPY, FILE SYNC, RESTART, RECOVERY), so a slow clone is told apart from a slow restart
without sampling. It is a read of a diagnostic table: when it cannot be read (performance_schema
off, a server that restarted without the clone's status) the result is empty, never an error.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Final

from moco.mysql.conn import Connection
from moco.mysql.errors import MySQLError

#: clone_progress's stages, in the order they run, as phase names.
CLONE_STAGES: Final = {
    "DROP DATA": "drop_data",
    "FILE COPY": "file_copy",
    "PAGE COPY": "page_copy",
    "REDO COPY": "redo_copy",
    "FILE SYNC": "file_sync",
    "RESTART": "restart",
    "RECOVERY": "recovery",
}


class Phases:
    """Wall seconds per named phase, in the order the phases were first entered."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def rounded(self, digits: int = 2) -> dict[str, float]:
        """The phases rounded for a log line or a JSON figure."""
        return {k: round(v, digits) for k, v in self.seconds.items()}


def stage_seconds(rows: list[tuple[str, str, datetime | None, datetime | None]]) -> dict[str, float]:
    """Seconds of each stage that ran, named by :data:`CLONE_STAGES` (pure).

    ``rows`` are (STAGE, STATE, BEGIN_TIME, END_TIME); a stage that did not run or has no end
    is left out.
    """
    out: dict[str, float] = {}
    for stage, state, begin, end in rows:
        name = CLONE_STAGES.get(stage)
        if name is None or state == "Not Started" or begin is None or end is None:
            continue
        out[name] = max((end - begin).total_seconds(), 0.0)
    return out


async def clone_stages(conn: Connection) -> dict[str, float]:
    """The stages of the last clone received by ``conn``'s server ({} when not readable)."""
    try:
        rows = await conn.query(
            "SELECT STAGE, STATE, BEGIN_TIME, END_TIME FROM performance_schema.clone_progress ORDER BY ID"
        )
    except MySQLError:
        return {}
    return stage_seconds(
        [(str(r["STAGE"] or ""), str(r["STATE"] or ""), r["BEGIN_TIME"], r["END_TIME"]) for r in rows]
    )


__all__ = ["CLONE_STAGES", "Phases", "clone_stages", "stage_seconds"]
