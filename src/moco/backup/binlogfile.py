"""Reading raw binlog files just enough to archive them: event boundaries, GTIDs, times (pure).

A raw binlog file (what ``mysqlbinlog --raw`` writes) is the magic ``\\xfebin`` followed by
events, each with a 19-byte header (timestamp, type, server_id, event_size, log_pos, flags);
``event_size`` counts the whole event. The archiver uploads a growing file only up to its last
*complete* event (:func:`scan`), so that every archived prefix is a valid binlog, and learns
from the GTID events which transactions it holds (to resume on another server after a
failover without a gap) and the time of the last one (the recovery point).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Final

from moco.mysql.gtid import GtidSet

MAGIC: Final = b"\xfebin"
HEADER: Final = 19
GTID_LOG_EVENT: Final = 33
GTID_TAGGED_LOG_EVENT: Final = 42


@dataclass(frozen=True)
class Scan:
    """What a scan from ``start`` found: where the complete events end, their GTIDs and times."""

    end: int
    gtids: tuple[tuple[str, int], ...]
    first_time: int
    last_time: int
    events: int


def scan(data: bytes | memoryview, start: int = 0) -> Scan:
    """Walk the events of ``data`` (a file's bytes) from ``start`` (0: the magic is checked).

    Stops at the first incomplete event; ``end`` is the offset after the last complete one.
    """
    view = memoryview(data)
    pos = start
    if start == 0:
        if len(view) < len(MAGIC):
            return Scan(0, (), 0, 0, 0)
        if bytes(view[:4]) != MAGIC:
            raise ValueError("not a binlog file (bad magic)")
        pos = 4
    gtids: list[tuple[str, int]] = []
    first = last = 0
    events = 0
    while pos + HEADER <= len(view):
        ts, etype, _sid, size = struct.unpack_from("<IBII", view, pos)
        if size < HEADER:
            raise ValueError(f"bad event size {size} at offset {pos}")
        if pos + size > len(view):
            break
        if etype == GTID_LOG_EVENT and size >= HEADER + 25:
            sid = uuid.UUID(bytes=bytes(view[pos + HEADER + 1 : pos + HEADER + 17]))
            (gno,) = struct.unpack_from("<q", view, pos + HEADER + 17)
            gtids.append((str(sid), gno))
            first = first or ts
            last = ts
        elif etype == GTID_TAGGED_LOG_EVENT:
            first = first or ts
            last = ts
        pos += size
        events += 1
    return Scan(end=pos, gtids=tuple(gtids), first_time=first, last_time=last, events=events)


def gtid_set(gtids: tuple[tuple[str, int], ...] | list[tuple[str, int]]) -> GtidSet:
    """The :class:`GtidSet` of single GTIDs (untagged)."""
    m: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for sid, gno in gtids:
        m.setdefault((sid, ""), []).append((gno, gno))
    return GtidSet.from_mapping(m)


__all__ = ["GTID_LOG_EVENT", "MAGIC", "Scan", "gtid_set", "scan"]
