"""A copy packed while it is still written (:mod:`moco.backup.streamcopy`), rule by rule, and the
whole way through a bucket: parts while files change, patches, removals, unpacked in order."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from obstore.store import LocalStore

from moco.backup.archive import download_unpack_parts, upload_feed_parts, upload_ranges
from moco.backup.bucket import Bucket
from moco.backup.streamcopy import (
    FORMAT_PARTS,
    FORMAT_PATCHED,
    STABLE_SECONDS,
    UNVERIFIED,
    Feed,
    Patch,
    block_digest,
    changed_ranges,
    follow,
    manifest_format,
    plan_patch,
    ready_files,
    state_of,
    states_now,
)


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_rule1_a_file_is_taken_once_left_alone_and_clone_status_files_only_at_the_end(tmp_path: Path) -> None:
    root = tmp_path / "clone"
    (root / "app").mkdir(parents=True)
    (root / "#clone").mkdir()
    for name in ("app/old.ibd", "app/new.ibd", "#clone/#status_in_progress"):
        (root / name).write_bytes(b"x")
    _age(root / "app/old.ibd", STABLE_SECONDS + 1)
    _age(root / "#clone/#status_in_progress", 60)
    assert ready_files(root, final=False) == [root / "app/old.ibd"]
    assert ready_files(root, final=True) == [
        root / "#clone/#status_in_progress",
        root / "app/new.ibd",
        root / "app/old.ibd",
    ]
    assert ready_files(tmp_path / "not-yet", final=False) == [], "CLONE has not made the directory yet"


def test_rule1_a_file_not_written_since_first_seen_waits_for_the_end(tmp_path: Path) -> None:
    root = tmp_path / "clone"
    root.mkdir()
    created, filled = root / "created.ibd", root / "filled.ibd"
    for f in (created, filled):
        f.write_bytes(b"page0")
        _age(f, STABLE_SECONDS + 1)
    first: dict[Path, tuple[int, int]] = {}
    assert ready_files(root, final=False, first=first) == [], "only created so far: not yet copied"
    filled.write_bytes(b"page0" + b"rows" * 100)
    _age(filled, STABLE_SECONDS + 1)
    assert ready_files(root, final=False, first=first) == [filled], "written since, then left alone"
    assert ready_files(root, final=True, first=first) == [created, filled]


def test_rule2_a_look_too_soon_after_a_write_is_unverified(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    st = f.stat()
    assert state_of(st, st.st_mtime + STABLE_SECONDS / 2) == UNVERIFIED
    assert state_of(st, st.st_mtime + STABLE_SECONDS + 0.01) == (st.st_ino, 3, st.st_mtime_ns)


def test_rule3_plan_patch_sends_again_what_changed_or_was_unverified_and_lists_what_is_gone() -> None:
    a, b, c, d = (Path(x) for x in "abcd")
    taken = {a: (1, 10, 100), b: (2, 10, 100), c: UNVERIFIED, d: (4, 10, 100)}
    now = {a: (1, 10, 100), b: (2, 10, 101), c: (3, 10, 100), d: None}
    assert plan_patch(taken, now) == Patch(again=[b, c], removed=[d])
    assert plan_patch({a: (1, 10, 100)}, {a: (9, 10, 100)}) == Patch(again=[a], removed=[]), "a new inode"
    assert plan_patch({a: (1, 10, 100)}, {a: (1, 11, 100)}) == Patch(again=[a], removed=[]), "a new size"


def test_rule4_the_format_says_whether_a_restore_must_know_patches() -> None:
    assert manifest_format(Patch(again=[], removed=[])) == FORMAT_PARTS
    assert manifest_format(Patch(again=[Path("a")], removed=[])) == FORMAT_PATCHED
    assert manifest_format(Patch(again=[], removed=[Path("a")])) == FORMAT_PATCHED


def test_feed_hands_each_file_once_and_ends_every_packer() -> None:
    feed = Feed(2)
    assert feed.offer([Path("a"), Path("b")]) == 2
    assert feed.offer([Path("b"), Path("c")]) == 1
    feed.close()
    first, second = feed.paths(), feed.paths()
    got = [next(first), next(second), next(first)]
    assert sorted(got) == [Path("a"), Path("b"), Path("c")]
    assert list(first) == []
    assert list(second) == []


async def test_a_copy_written_while_packed_comes_back_as_it_ended(tmp_path: Path) -> None:
    """The rules end to end against a bucket: a writer changes files while the packers read them
    (one grows, one is rewritten, one is removed, one appears late); the parts, then the patches,
    then the removals give back exactly the final directory, and only the bytes that changed are
    sent again."""
    root = tmp_path / "clone"
    (root / "db").mkdir(parents=True)
    bucket = Bucket(LocalStore(tmp_path / "bucket", mkdir=True), name="local")
    for i in range(6):
        # created first (a page), as CLONE does; filled once the follower has seen them
        (root / f"db/t{i}.ibd").write_bytes(b"p")
    feed = Feed(2)
    upload = asyncio.create_task(
        upload_feed_parts(bucket, ["c/clone.0.tar.zst", "c/clone.1.tar.zst"], root, "data", feed)
    )

    async def writer() -> None:
        await asyncio.sleep(0.3)  # the follower's first looks see them created
        for i in range(6):
            (root / f"db/t{i}.ibd").write_bytes(os.urandom(256 * 1024))
            _age(root / f"db/t{i}.ibd", STABLE_SECONDS + 1)
        # after the packers took the filled files: change them behind their backs
        while len(feed.taken) < 6:  # noqa: ASYNC110  (written by the packing threads)
            await asyncio.sleep(0.01)
        with (root / "db/t0.ibd").open("ab") as f:
            f.write(b"grown")
        (root / "db/t1.ibd").write_bytes(b"rewritten")
        (root / "db/t2.ibd").unlink()
        (root / "db/late.ibd").write_bytes(b"late")
        await asyncio.sleep(0.05)

    clone = asyncio.ensure_future(writer())
    await follow(feed, root, clone, upload)
    await upload
    patch = plan_patch(feed.taken, states_now(list(feed.taken)))
    assert set(patch.again) >= {root / "db/t0.ibd", root / "db/t1.ibd"}
    assert patch.removed == [root / "db/t2.ibd"]
    assert root / "db/late.ibd" in feed.taken, "a file that appears late is taken at the end"
    deltas = [(p, *changed_ranges(p, feed.blocks.get(p, []))) for p in patch.again]
    by_name = {p.name: (size, ranges) for p, size, ranges in deltas}
    assert by_name["t0.ibd"] == (256 * 1024 + 5, [(256 * 1024, 5)]), "only the bytes appended"
    assert by_name["t1.ibd"] == (9, [(0, 9)]), "rewritten: its new bytes, then cut to its new size"
    await upload_ranges(bucket, "c/clone.2.tar.zst", root, deltas)

    out = tmp_path / "out"
    await download_unpack_parts(bucket, ["c/clone.0.tar.zst", "c/clone.1.tar.zst"], out)
    await download_unpack_parts(bucket, ["c/clone.2.tar.zst"], out)
    for r in patch.removed:
        (out / "data" / r.relative_to(root)).unlink()
    got = {p.relative_to(out / "data"): p.read_bytes() for p in (out / "data").rglob("*") if p.is_file()}
    want = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert got == want


def test_rule3_changed_ranges_sends_only_blocks_that_differ_and_what_no_block_holds(tmp_path: Path) -> None:
    f = tmp_path / "f"
    data = bytearray(os.urandom(40))
    f.write_bytes(data)
    blocks = [(o, 10, block_digest(data[o : o + 10])) for o in (0, 10, 30)]
    assert changed_ranges(f, blocks) == (40, [(20, 10)]), "a block no packer read (a shrink's zeros)"
    data[12] ^= 1
    data[31] ^= 1
    f.write_bytes(data + b"tail")
    assert changed_ranges(f, blocks) == (44, [(10, 34)]), "two changed blocks, the gap and the tail: merged"
    data[12] ^= 1
    f.write_bytes(data)
    assert changed_ranges(f, blocks) == (40, [(20, 20)]), "unchanged blocks are not sent"
    f.write_bytes(data[:15])
    assert changed_ranges(f, blocks) == (15, [(10, 5)]), "cut short: blocks past the end are gone"


def test_rule3_a_block_digest_tells_any_one_bit_change_and_nothing_else() -> None:
    """The digest rule 3 compares: every single-bit change of a 4 KiB block gives another
    digest, the same bytes the same digest whatever holds them."""
    block = bytearray(os.urandom(4096))
    digest = block_digest(bytes(block))
    assert len(digest) == 16, "128 bits"
    assert block_digest(memoryview(block)) == digest
    seen = {digest}
    for bit in range(0, 4096 * 8, 61):
        block[bit // 8] ^= 1 << (bit % 8)
        seen.add(block_digest(block))
        block[bit // 8] ^= 1 << (bit % 8)
    assert len(seen) == 1 + len(range(0, 4096 * 8, 61))


def test_feed_keeps_the_digest_of_a_block_not_the_packers_buffer() -> None:
    """A packer hands its reused buffer: what the feed keeps must not change when the buffer
    is overwritten by the next read (rule 2: what was read is known)."""
    feed = Feed(1)
    buf = bytearray(b"x" * 100)
    feed.block(Path("f"), 200, memoryview(buf)[:64])
    buf[:] = b"y" * 100
    assert feed.blocks[Path("f")] == [(200, 64, block_digest(b"x" * 64))]
