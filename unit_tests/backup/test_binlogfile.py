"""Raw binlog scanning (event boundaries, GTIDs, times) and the archive's replay plan."""

from __future__ import annotations

import struct
import uuid

import pytest

from moco.backup.archiver import Segment, chain, parse_segment, plan_replay, segment_key
from moco.backup.binlogfile import (
    GTID_LOG_EVENT,
    GTID_TAGGED_LOG_EVENT,
    MAGIC,
    _varlen,
    gtid_set,
    scan,
    tagged_gtid,
)

SID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


def event(etype: int, ts: int, body: bytes) -> bytes:
    size = 19 + len(body) + 4
    return struct.pack("<IBIIIH", ts, etype, 1, size, 0, 0) + body + b"\0\0\0\0"


def gtid_event(ts: int, gno: int) -> bytes:
    return event(GTID_LOG_EVENT, ts, b"\x01" + uuid.UUID(SID).bytes + struct.pack("<q", gno) + b"\0" * 20)


def test_scan_stops_at_the_last_complete_event() -> None:
    data = (
        MAGIC + event(15, 100, b"x" * 40) + gtid_event(101, 1) + event(30, 101, b"row") + gtid_event(105, 2)
    )
    full = scan(data)
    assert full.end == len(data)
    assert full.gtids == ((SID, "", 1), (SID, "", 2))
    assert (full.first_time, full.last_time, full.events) == (101, 105, 4)
    cut = scan(data[:-5])
    assert cut.end == len(data) - len(gtid_event(105, 2))
    assert cut.gtids == ((SID, "", 1),)
    rest = scan(data, cut.end)
    assert rest.gtids == ((SID, "", 2),)
    assert rest.end == len(data)
    assert str(gtid_set([(SID, "", 1), (SID, "", 2), (SID, "", 5)])) == f"{SID}:1-2:5"
    assert str(gtid_set([(SID, "", 1), (SID, "t", 3)])) == f"{SID}:1:t:3"
    with pytest.raises(ValueError, match="magic"):
        scan(b"nope" + data[4:])


#: The body of a GTID_TAGGED_LOG_EVENT written by mysqld 9.7.4 for ``SET gtid_next =
#: 'AUTOMATIC:backup_tag'`` (its checksum left out).
TAGGED_BODY = bytes.fromhex(
    "027e00000202f103e8650260b503950222c50389021604f10300000002040406146261636b75705f7461670804"
    "0a080c7fb38cf7309561061041031283120b"
)


def varlen(value: int) -> bytes:
    """The format's unsigned variable-length integer (the module docstring's rule)."""
    n = max(1, min(9, (value.bit_length() + 6) // 7))
    if n == 9:
        return b"\xff" + value.to_bytes(8, "little")
    first = ((1 << (n - 1)) - 1) | ((value << n) & 0xFF)
    return bytes([first]) + (value >> (8 - n)).to_bytes(n - 1, "little")


@pytest.mark.parametrize(
    "value", [0, 1, 63, 127, 128, 252, 16383, 16384, 1 << 40, (1 << 56) - 1, 1 << 56, (1 << 64) - 1]
)
def test_variable_length_integers(value: int) -> None:
    raw = varlen(value) + b"tail"
    assert _varlen(memoryview(raw), 0) == (value, len(raw) - 4)


def test_a_tagged_gtid_event_from_a_real_server() -> None:
    assert tagged_gtid(memoryview(TAGGED_BODY)) == ("fc749930-eda5-11f1-a20b-02fc00000001", "backup_tag", 1)
    data = MAGIC + event(GTID_TAGGED_LOG_EVENT, 200, TAGGED_BODY) + gtid_event(201, 7)
    sc = scan(data)
    assert sc.gtids == (("fc749930-eda5-11f1-a20b-02fc00000001", "backup_tag", 1), (SID, "", 7))
    assert (sc.first_time, sc.last_time) == (200, 201)
    with pytest.raises(ValueError, match="tagged GTID"):
        scan(MAGIC + event(GTID_TAGGED_LOG_EVENT, 200, TAGGED_BODY[:20]))


def test_segments_and_replay_order() -> None:
    prefix = "moco/ns/c/binlog-archive/"
    k = segment_key("ns", "c", "srv-a/0001", "binlog.000002", 4096, 5000, 10, 20)
    assert parse_segment(k, prefix) == Segment(k, "srv-a/0001", "binlog.000002", 4096, 5000, 10, 20)
    assert parse_segment(prefix + "state.json", prefix) is None
    assert parse_segment(prefix + "a/b/c/junk", prefix) is None
    segs = [
        Segment("1", "srv-b/2", "binlog.000001", 0, 10, 50, 60),
        Segment("2", "srv-a/1", "binlog.000010", 0, 10, 30, 40),
        Segment("3", "srv-a/1", "binlog.000009", 100, 200, 21, 25),
        Segment("4", "srv-a/1", "binlog.000009", 0, 100, 10, 20),
        Segment("5", "srv-a/1", "binlog.000001", 0, 10, 1, 5),
        Segment("6", "srv-a/1", "binlog.000011", 0, 10, 0, 0),
        # a piece that does not follow the chain (offset 300 without 200-300) is left out
        Segment("7", "srv-a/1", "binlog.000009", 300, 400, 26, 27),
    ]
    plan = plan_replay(segs, after=15)
    assert [(s, f) for s, f, _ in plan] == [
        ("srv-a/1", "binlog.000009"),
        ("srv-a/1", "binlog.000010"),
        ("srv-b/2", "binlog.000001"),
    ]
    assert [p.offset for p in plan[0][2]] == [0, 100]
    assert chain([segs[3], segs[2], segs[6]]) == [segs[3], segs[2]]
