"""The archiver's upload pass over local binlog files (no server: files written by the test)."""

from __future__ import annotations

from pathlib import Path

from obstore.store import MemoryStore

from moco.backup.archiver import Archiver, archive_prefix, parse_segment, read_events
from moco.backup.binlogfile import MAGIC
from moco.backup.bucket import Bucket
from moco.backup.scratch import Tools
from moco.mysql.conn import Endpoint
from unit_tests.backup.test_binlogfile import SID, event, gtid_event

RUN = f"{SID}/0000000000001"


async def _never() -> Endpoint:
    raise AssertionError("no primary in this test")


def _archiver(tmp_path: Path, bucket: Bucket, chunk: int) -> tuple[Archiver, Path]:
    a = Archiver(bucket, Tools(), tmp_path, "ns", "c", _never)
    a.chunk = chunk
    a._run = RUN  # what run() sets when it starts a follower
    d = tmp_path / "archive" / RUN
    d.mkdir(parents=True)
    return a, d


async def _segments(bucket: Bucket) -> list[tuple[int, int, bytes]]:
    prefix = archive_prefix("ns", "c")
    out = []
    for key in await bucket.list(prefix):
        seg = parse_segment(key, prefix)
        if seg is not None:
            out.append((seg.offset, seg.end, await bucket.get_bytes(key)))
    return sorted(out)


async def test_a_file_is_read_in_bounded_pieces_from_where_its_archive_ends(tmp_path: Path) -> None:
    bucket = Bucket(MemoryStore(), name="b")
    a, d = _archiver(tmp_path, bucket, chunk=200)
    small = [gtid_event(100 + i, i + 1) + event(30, 100 + i, b"r" * 40) for i in range(10)]
    big_row = event(30, 120, b"B" * 700)  # one event larger than a chunk
    big = gtid_event(120, 11) + big_row
    body = MAGIC + b"".join(small) + big
    (d / "binlog.000001").write_bytes(body + gtid_event(121, 12)[:10])  # and an incomplete one
    sent = await a.sync_once()
    assert sent == len(body)
    segs = await _segments(bucket)
    assert b"".join(data for _, _, data in segs) == body
    assert all(end - off == len(data) for off, end, data in segs)
    # each piece within the chunk, but for the one event that is larger
    assert [end - off for off, end, _ in segs if end - off > 200] == [len(big_row)]
    assert [off for off, _, _ in segs] == [0, *(end for _, end, _ in segs[:-1])]
    assert str(a.archived) == f"{SID}:1-11"
    assert a.last_time == 120

    # the file grows: the next pass sends only what it gained
    with (d / "binlog.000001").open("ab") as f:
        f.write(gtid_event(121, 12)[10:])
    assert await a.sync_once() == len(gtid_event(121, 12))
    assert str(a.archived) == f"{SID}:1-12"
    assert await a.sync_once() == 0


def test_read_events_keeps_the_files_offsets(tmp_path: Path) -> None:
    path = tmp_path / "binlog.000001"
    first, second = gtid_event(100, 1), gtid_event(101, 2)
    path.write_bytes(MAGIC + first + second)
    data, sc = read_events(path, len(MAGIC) + len(first), 1 << 20)
    assert data == second
    assert sc.end == len(MAGIC) + len(first) + len(second)
    assert sc.gtids == ((SID, "", 2),)
