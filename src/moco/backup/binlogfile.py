"""Reading raw binlog files just enough to archive them: event boundaries, GTIDs, times (pure).

A raw binlog file (what ``mysqlbinlog --raw`` writes) is the magic ``\\xfebin`` followed by
events, each with a 19-byte header (timestamp, type, server_id, event_size, log_pos, flags);
``event_size`` counts the whole event. The archiver uploads a growing file only up to its last
*complete* event (:func:`scan`), so that every archived prefix is a valid binlog, and learns
from the GTID events which transactions it holds (to resume on another server after a
failover without a gap) and the time of the last one (the recovery point).

Two GTID events exist (MySQL 8.4+):

- ``GTID_LOG_EVENT`` (33), untagged ``uuid:gno``: fixed offsets, a flags byte, the 16 bytes of
  the UUID, the gno as a little-endian int64;
- ``GTID_TAGGED_LOG_EVENT`` (42), ``uuid:tag:gno`` (``SET gtid_next = 'AUTOMATIC:tag'``): MySQL's
  serialization format, a header of three variable-length integers (format version, message
  size, last non-ignorable field id) then fields, each its id followed by its value: 0 flags,
  1 the UUID (16 integers, one per byte), 2 the gno (signed), 3 the tag (length, bytes), then
  fields this module does not need. A variable-length integer's first byte says its length:
  ``n`` trailing one bits mean ``n`` more bytes (9 bytes in all when the first is ``0xff``); a
  signed one carries its sign in the lowest bit.
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


#: One GTID as a scan finds it: (source uuid, tag or "", gno).
Gtid = tuple[str, str, int]


@dataclass(frozen=True)
class Scan:
    """What a scan from ``start`` found: where the complete events end, their GTIDs and times."""

    end: int
    gtids: tuple[Gtid, ...]
    first_time: int
    last_time: int
    events: int


def _varlen(view: memoryview, pos: int) -> tuple[int, int]:
    """The unsigned variable-length integer at ``pos`` and the offset after it."""
    first = view[pos]
    n = 8 if first == 0xFF else (~first & (first + 1)).bit_length() - 1  # trailing one bits
    if pos + 1 + n > len(view):
        raise ValueError(f"truncated variable-length integer at offset {pos}")
    if n == 8:
        return int.from_bytes(view[pos + 1 : pos + 9], "little"), pos + 9
    rest = int.from_bytes(view[pos + 1 : pos + 1 + n], "little")
    return (first >> (n + 1)) | (rest << (7 - n)), pos + 1 + n


def _signed(u: int) -> int:
    return ~(u >> 1) if u & 1 else u >> 1


def tagged_gtid(body: memoryview) -> Gtid:
    """(uuid, tag, gno) of a ``GTID_TAGGED_LOG_EVENT``'s body (module docstring); ValueError
    when the fields are not where the format puts them."""
    pos = 0
    for _ in range(3):  # format version, message size, last non-ignorable field id
        _, pos = _varlen(body, pos)
    sid = b""
    gno = -1
    tag = ""
    while pos < len(body) and not (sid and gno >= 0 and tag):
        field, pos = _varlen(body, pos)
        if field == 0:
            _, pos = _varlen(body, pos)
        elif field == 1:
            raw = bytearray()
            for _ in range(16):
                b, pos = _varlen(body, pos)
                raw.append(b)
            sid = bytes(raw)
        elif field == 2:
            u, pos = _varlen(body, pos)
            gno = _signed(u)
        elif field == 3:
            n, pos = _varlen(body, pos)
            tag = bytes(body[pos : pos + n]).decode("ascii")
            pos += n
        else:
            break
    if len(sid) != 16 or gno < 1 or not tag:
        raise ValueError("a tagged GTID event without its uuid, gno and tag")
    return str(uuid.UUID(bytes=sid)), tag, gno


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
    gtids: list[Gtid] = []
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
            gtids.append((str(sid), "", gno))
            first = first or ts
            last = ts
        elif etype == GTID_TAGGED_LOG_EVENT:
            try:
                gtids.append(tagged_gtid(view[pos + HEADER : pos + size]))
            except (ValueError, IndexError) as e:
                raise ValueError(f"bad tagged GTID event at offset {pos}: {e}") from e
            first = first or ts
            last = ts
        pos += size
        events += 1
    return Scan(end=pos, gtids=tuple(gtids), first_time=first, last_time=last, events=events)


def gtid_set(gtids: tuple[Gtid, ...] | list[Gtid]) -> GtidSet:
    """The :class:`GtidSet` of single GTIDs, tagged or not."""
    m: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for sid, tag, gno in gtids:
        m.setdefault((sid, tag), []).append((gno, gno))
    return GtidSet.from_mapping(m)


__all__ = [
    "GTID_LOG_EVENT",
    "GTID_TAGGED_LOG_EVENT",
    "MAGIC",
    "Gtid",
    "Scan",
    "gtid_set",
    "scan",
    "tagged_gtid",
]
