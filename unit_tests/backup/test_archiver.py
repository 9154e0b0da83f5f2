"""The archiver's upload pass over local binlog files (no server: files written by the test), its
marker (when a probe of the primary is covered) and the restore's reach check over it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from obstore.store import MemoryStore

from moco.backup.archiver import Archiver, ArchiveState, Probe, archive_prefix, parse_segment, read_events
from moco.backup.binlogfile import MAGIC
from moco.backup.bucket import Bucket
from moco.backup.errors import RestorePointUnavailable
from moco.backup.restore import check_reach
from moco.backup.scratch import Tools
from moco.mysql.conn import Endpoint
from moco.mysql.gtid import GtidSet
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


OTHER = "4e11fa47-71ca-11e1-9e33-c80aa9429562"


@pytest.mark.parametrize(
    ("executed", "purged", "archived", "covered"),
    [
        (f"{SID}:1-10", "", f"{SID}:1-10", True),
        (f"{SID}:1-10", "", f"{SID}:1-9", False),  # the follower has not the last one yet
        (f"{SID}:1-10", f"{SID}:1-4", f"{SID}:5-10", True),  # purged before the archive began
        (f"{SID}:1-10,{OTHER}:1-3", "", f"{SID}:1-10", False),  # the old primary's are not there
        (f"{SID}:1-10:t:1-2", "", f"{SID}:1-10", False),  # a tagged one missing
        (f"{SID}:1-10:t:1-2", "", f"{SID}:1-10:t:1-2,{OTHER}:1-3", True),  # more is fine
    ],
)
def test_a_probe_is_covered_when_the_archive_holds_what_the_binlogs_held(
    executed: str, purged: str, archived: str, covered: bool
) -> None:
    p = Probe(100.0, GtidSet.parse(executed), GtidSet.parse(purged))
    assert p.covered(GtidSet.parse(archived)) is covered


BACKUP = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _state(synced: float, *gaps: tuple[float, float]) -> ArchiveState:
    return ArchiveState(GtidSet.parse(f"{SID}:1-10"), int(synced), synced, SID, gaps)


T = BACKUP.timestamp()


@pytest.mark.parametrize(
    ("point", "archive", "latest"),
    [
        (BACKUP, None, None),  # the backup itself: no archive needed
        (BACKUP + timedelta(seconds=1), None, "2026-01-02T03:04:05Z"),
        (BACKUP + timedelta(seconds=1), _state(0.0), "2026-01-02T03:04:05Z"),  # never synced
        (BACKUP + timedelta(seconds=60), _state(BACKUP.timestamp() + 60.9), None),
        (BACKUP + timedelta(seconds=61), _state(BACKUP.timestamp() + 60.9), "2026-01-02T03:05:05Z"),
        # a marker older than the backup (the archiver stopped long ago): the backup still serves
        (BACKUP, _state(BACKUP.timestamp() - 600), None),
        (BACKUP + timedelta(seconds=5), _state(BACKUP.timestamp() - 600), "2026-01-02T03:04:05Z"),
        # a gap after the backup: points up to its start only
        (BACKUP + timedelta(seconds=30), _state(T + 600, (T + 30.5, T + 90)), None),
        (BACKUP + timedelta(seconds=31), _state(T + 600, (T + 30.5, T + 90)), "2026-01-02T03:04:35Z"),
        # a gap across the backup: the backup itself only
        (BACKUP + timedelta(seconds=1), _state(T + 600, (T - 30, T + 90)), "2026-01-02T03:04:05Z"),
        # a gap that ended before the backup: the backup holds what it lost
        (BACKUP + timedelta(seconds=500), _state(T + 600, (T - 90, T - 30)), None),
    ],
)
def test_a_restore_point_past_the_latest_point_is_refused(
    point: datetime, archive: ArchiveState | None, latest: str | None
) -> None:
    if latest is None:
        check_reach(point, BACKUP, archive, "ns/c")
        return
    with pytest.raises(RestorePointUnavailable) as e:
        check_reach(point, BACKUP, archive, "ns/c")
    msg = str(e.value)
    assert (
        f"spec.restore.restorePoint {point:%Y-%m-%dT%H:%M:%SZ} is past what the bucket holds for ns/c" in msg
    )
    assert f"the latest point available is {latest}" in msg
    assert ("binlog-archive" in msg) is (archive is None or not archive.synced_time)
    assert ("purged before they were archived" in msg) is bool(archive and archive.gaps)
