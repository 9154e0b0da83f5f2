"""Where backups live in the bucket, and which one serves a restore point (pure functions).

MOCO's layout: ``moco/<namespace>/<name>/<YYYYMMDD-hhmmss>/<file>`` with the time of the backup
in UTC. A backup directory holds the full copy: ``clone.<i>.tar.zst`` parts (tar.zst of a cloned
data directory, split by files so that they are packed and sent in parallel) and, written last,
the manifest :data:`CLONE_MANIFEST` naming them, so a directory without a manifest is an
unfinished backup and is ignored; the binary logs *following* that copy are uploaded by the
next backup into the same directory (:data:`BINLOG_FILENAME`, a tar.zst of MOCO's ``binlog/``
directory of raw binlog files), so a restore point between two backups is served by one
directory.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

PREFIX: Final = "moco"
TIME_FORMAT: Final = "%Y%m%d-%H%M%S"
CLONE_MANIFEST: Final = "clone.json"
BINLOG_FILENAME: Final = "binlog.tar.zst"
_BINLOG_NAME: Final = re.compile(r"^(?P<base>.+)\.(?P<n>\d+)$")


def format_time(t: datetime) -> str:
    """``YYYYMMDD-hhmmss`` of ``t`` in UTC."""
    return t.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The UTC time of ``YYYYMMDD-hhmmss``; ValueError when malformed."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def cluster_prefix(namespace: str, name: str) -> str:
    """``moco/<ns>/<name>/``: every backup of one cluster."""
    return f"{PREFIX}/{namespace}/{name}/"


def object_key(namespace: str, name: str, filename: str, t: datetime) -> str:
    """The key of ``filename`` in the backup taken at ``t``."""
    return posixpath.join(PREFIX, namespace, name, format_time(t), filename)


@dataclass(frozen=True)
class Nearest:
    """The backup that serves a restore point: its copy's manifest, the binlogs after it (or ""),
    its time."""

    clone_key: str
    binlog_key: str
    time: datetime


def find_nearest(keys: list[str], restore_point: datetime) -> Nearest | None:
    """The latest full copy taken at or before ``restore_point`` and its following binlogs.

    Keys that are not ours, or whose directory is not a time, are ignored.
    """
    best: Nearest | None = None
    binlogs: dict[str, str] = {}
    for key in sorted(keys):
        d, base = posixpath.split(key)
        if base not in (CLONE_MANIFEST, BINLOG_FILENAME):
            continue
        try:
            t = parse_time(posixpath.basename(d))
        except ValueError:
            continue
        if t > restore_point:
            continue
        if base == BINLOG_FILENAME:
            binlogs[d] = key
        elif best is None or t >= best.time:
            best = Nearest(clone_key=key, binlog_key="", time=t)
    if best is None:
        return None
    d = posixpath.dirname(best.clone_key)
    return Nearest(clone_key=best.clone_key, binlog_key=binlogs.get(d, ""), time=best.time)


def clone_part(i: int) -> str:
    """The file name of part ``i`` of a copy."""
    return f"clone.{i}.tar.zst"


def binlog_order(name: str) -> tuple[str, int]:
    """Sort key of a binlog file name (``binlog.000010`` after ``binlog.000009``)."""
    m = _BINLOG_NAME.match(name)
    return (m.group("base"), int(m.group("n"))) if m else (name, -1)


def sort_binlogs(names: list[str]) -> list[str]:
    """Binlog file names in the server's order; ``.index`` files are left out."""
    return sorted((n for n in names if _BINLOG_NAME.match(n)), key=binlog_order)


__all__ = [
    "BINLOG_FILENAME",
    "CLONE_MANIFEST",
    "TIME_FORMAT",
    "Nearest",
    "binlog_order",
    "clone_part",
    "cluster_prefix",
    "find_nearest",
    "format_time",
    "object_key",
    "parse_time",
    "sort_binlogs",
]
