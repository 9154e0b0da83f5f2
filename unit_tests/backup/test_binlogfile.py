"""Raw binlog scanning (event boundaries, GTIDs, times) and the archive's replay plan."""

from __future__ import annotations

import struct
import uuid

import pytest

from moco.backup.archiver import Segment, chain, parse_segment, plan_replay, segment_key
from moco.backup.binlogfile import GTID_LOG_EVENT, MAGIC, gtid_set, scan

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
    assert full.gtids == ((SID, 1), (SID, 2))
    assert (full.first_time, full.last_time, full.events) == (101, 105, 4)
    cut = scan(data[:-5])
    assert cut.end == len(data) - len(gtid_event(105, 2))
    assert cut.gtids == ((SID, 1),)
    rest = scan(data, cut.end)
    assert rest.gtids == ((SID, 2),)
    assert rest.end == len(data)
    assert str(gtid_set([(SID, 1), (SID, 2), (SID, 5)])) == f"{SID}:1-2:5"
    with pytest.raises(ValueError, match="magic"):
        scan(b"nope" + data[4:])


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
