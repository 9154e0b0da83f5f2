"""A directory to tar.zst objects and back (obstore's LocalStore), the split into parts, and the
manifest of a copy."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import filecmp
import io
import json
import os
import shutil
import stat
import tarfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import zstandard
from obstore.store import LocalStore, MemoryStore

from moco.backup.archive import (
    BLOCK,
    PipeStats,
    _Sink,
    download_unpack,
    download_unpack_parts,
    partition,
    upload_dir_parts,
)
from moco.backup.backup import MANIFEST_FORMAT
from moco.backup.bucket import Bucket
from moco.backup.errors import BackupError, ObjectNotFound
from moco.backup.restore import parse_manifest


def _dirs(dest: Path) -> Path:
    """``dest`` with the tree's directories made first, as a restore does from the manifest: the
    parts are unpacked at once into one tree."""
    for d in ("", "a", "a/b", "c", "empty"):
        (dest / "data" / d).mkdir(parents=True, exist_ok=True)
    return dest


def _tree(root: Path) -> None:
    for d in ("a", "a/b", "c", "empty"):
        (root / d).mkdir(parents=True)
    for name, size in (("ibdata1", 3_000_000), ("a/t.ibd", 2_000_000), ("a/b/u.ibd", 700_000), ("c/x", 10)):
        (root / name).write_bytes(os.urandom(size // 2) + b"\0" * (size - size // 2))


def test_partition_balances_by_size_and_keeps_directories_first() -> None:
    sizes = {Path("d"): -1, Path("big"): 100, Path("mid"): 60, Path("small"): 50, Path("tiny"): 1}
    groups = partition(sizes, 2)
    assert Path("d") in groups[0]
    totals = [sum(max(sizes[p], 0) for p in g) for g in groups]
    assert sorted(totals) == [101, 110]
    assert partition(sizes, 1) == [sorted(sizes)]


@pytest.mark.parametrize("direct", [False, True], ids=["cached", "direct"])
@pytest.mark.parametrize("parts", [1, 3])
async def test_parts_round_trip(tmp_path: Path, parts: int, direct: bool) -> None:
    src = tmp_path / "src"
    _tree(src)
    (src / "a/t.ibd").chmod(0o640)
    (tmp_path / "bucket").mkdir()
    b = Bucket(LocalStore(tmp_path / "bucket"), name="b")
    keys = [f"x/clone.{i}.tar.zst" for i in range(parts)]
    packed = await upload_dir_parts(b, keys, src, "data")
    assert packed.raw_bytes == 3_000_000 + 2_000_000 + 700_000 + 10
    assert 0 < packed.stored_bytes < packed.raw_bytes
    dest = tmp_path / "dest"
    for d in ("", "a", "a/b", "c", "empty"):
        (dest / "data" / d).mkdir(parents=True, exist_ok=True)
    assert await download_unpack_parts(b, keys, dest, direct=direct) == packed.raw_bytes
    for name in ("ibdata1", "a/t.ibd", "c/x"):
        want, got = (src / name).stat(), (dest / "data" / name).stat()
        assert (stat.S_IMODE(got.st_mode), got.st_mtime) == (stat.S_IMODE(want.st_mode), int(want.st_mtime))
    cmp = filecmp.dircmp(src, dest / "data")
    assert not cmp.left_only
    assert not cmp.right_only
    assert not cmp.diff_files
    for sub in ("a", "a/b", "c"):
        files = [f for f in os.listdir(src / sub) if (src / sub / f).is_file()]
        assert filecmp.cmpfiles(src / sub, dest / "data" / sub, files, shallow=False)[1] == []


async def test_a_file_system_that_refuses_direct_writes_gets_them_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused at the open (tmpfs before Linux 6.6) or at a write (a disk with larger blocks):
    the file is written whole either way."""
    src = tmp_path / "src"
    _tree(src)
    b = Bucket(MemoryStore(), name="b")
    keys = ["x/clone.0.tar.zst"]
    await upload_dir_parts(b, keys, src, "data")
    real_open, real_write = os.open, os.write
    direct_fds: set[int] = set()

    def refusing_open(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT and "ibdata1" in str(path):
            raise OSError(errno.EINVAL, "direct refused at the open")
        fd = real_open(path, flags, mode)
        if flags & os.O_DIRECT:
            direct_fds.add(fd)
        return fd

    def refusing_write(fd: int, data: bytes | memoryview) -> int:
        if fd in direct_fds and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "direct refused at a write")
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", refusing_open)
    monkeypatch.setattr(os, "write", refusing_write)
    await download_unpack_parts(b, keys, _dirs(tmp_path / "dest"), direct=True)
    monkeypatch.undo()
    assert direct_fds, "the other files were opened direct"
    for f in (p for p in src.rglob("*") if p.is_file()):
        assert (tmp_path / "dest" / "data" / f.relative_to(src)).read_bytes() == f.read_bytes()


async def test_parts_unpacked_at_once_make_the_directories_they_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two parts unpacked at once can both find a shared directory missing; the second to make it
    must not fail (CI once failed on ``File exists: .../data/db``). The interleaving is forced:
    each time an unpacker asks whether a member's directory exists, the other has just made it."""
    src = tmp_path / "src"
    _tree(src)
    b = Bucket(MemoryStore(), name="b")
    keys = ["x/clone.0.tar.zst", "x/clone.1.tar.zst"]
    packed = await upload_dir_parts(b, keys, src, "data")
    dest = tmp_path / "dest"
    real_exists = os.path.exists

    def made_meanwhile(path: str | os.PathLike[str]) -> bool:
        if str(path).startswith(str(dest / "data")) and not real_exists(path):
            os.makedirs(path, exist_ok=True)  # the other part's thread, between the check and mkdir
            return False
        return real_exists(path)

    monkeypatch.setattr(os.path, "exists", made_meanwhile)
    assert await download_unpack_parts(b, keys, dest) == packed.raw_bytes
    monkeypatch.undo()
    assert not filecmp.dircmp(src, dest / "data").diff_files
    assert (dest / "data/a/b/u.ibd").read_bytes() == (src / "a/b/u.ibd").read_bytes()


async def test_a_member_outside_the_copy_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("../outside/x")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    b = Bucket(MemoryStore(), name="b")
    await b.put_bytes("x/clone.0.tar.zst", zstandard.ZstdCompressor().compress(raw.getvalue()))
    with pytest.raises(BackupError, match="outside the copy"):
        await download_unpack(b, "x/clone.0.tar.zst", tmp_path / "dest")
    assert not (tmp_path / "outside").exists()


def test_manifest_names_its_parts_and_refuses_others() -> None:
    doc = {"format": MANIFEST_FORMAT, "parts": ["clone.0.tar.zst", "clone.1.tar.zst"], "dirs": ["a", "a/b"]}
    m = parse_manifest("moco/ns/c/20260101-000000/clone.json", json.dumps(doc).encode())
    assert m.part_keys == [
        "moco/ns/c/20260101-000000/clone.0.tar.zst",
        "moco/ns/c/20260101-000000/clone.1.tar.zst",
    ]
    assert m.dirs == ["a", "a/b"]
    with pytest.raises(BackupError, match="unknown backup format"):
        parse_manifest("k", json.dumps({**doc, "format": "other"}).encode())
    with pytest.raises(BackupError, match="not a backup manifest"):
        parse_manifest("k", b"not json")
    with pytest.raises(BackupError, match="outside the copy"):
        parse_manifest("k", json.dumps({**doc, "dirs": ["../etc"]}).encode())


async def test_a_missing_part_is_the_buckets_error(tmp_path: Path) -> None:
    b = Bucket(MemoryStore(), name="b")
    with pytest.raises(ObjectNotFound):
        await download_unpack(b, "x/clone.0.tar.zst", tmp_path / "dest")


async def test_the_streams_count_where_their_time_goes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    b = Bucket(MemoryStore(), name="b")
    keys = ["x/clone.0.tar.zst", "x/clone.1.tar.zst"]
    packed = await upload_dir_parts(b, keys, src, "data")
    up = packed.stats.phases("upload")
    assert {"upload.read", "upload.zstd", "upload.cpu"} <= set(up)
    assert all(v > 0 for v in up.values())
    pipe = PipeStats()
    await download_unpack_parts(b, keys, _dirs(tmp_path / "dest"), stats=pipe)
    down = pipe.phases("download")
    assert {"download.zstd", "download.write", "download.cpu"} <= set(down)
    assert all(v > 0 for v in down.values())


def _tar_member(name: str, data: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    pad = (-len(data)) % tarfile.BLOCKSIZE
    return info.tobuf(format=tarfile.PAX_FORMAT) + data + b"\0" * pad


async def test_an_object_cut_short_between_two_members_fails(tmp_path: Path) -> None:
    """zstd decodes a cut frame without a word (its checksum is at the end, never reached), and
    a cut that falls between two members leaves a tar that reads as ended: only the tar's end
    marker tells a whole copy from a cut one."""
    comp = zstandard.ZstdCompressor(level=1, write_checksum=True).compressobj()
    first = comp.compress(_tar_member("data/a", os.urandom(300 * 1024)))
    first += comp.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)  # the cut lands right after member a
    rest = comp.compress(_tar_member("data/b", os.urandom(300 * 1024)) + b"\0" * (2 * tarfile.BLOCKSIZE))
    rest += comp.flush()
    b = Bucket(MemoryStore(), name="b")
    await b.put_bytes("x/whole.tar.zst", first + rest)
    await b.put_bytes("x/cut.tar.zst", first)
    assert await download_unpack(b, "x/whole.tar.zst", tmp_path / "whole") == 600 * 1024
    with pytest.raises(BackupError, match="cannot unpack"):
        await download_unpack(b, "x/cut.tar.zst", tmp_path / "cut")


@pytest.mark.parametrize(
    ("tail", "error"),
    [
        (b"", "ends before its end marker"),
        (b"\0" * tarfile.BLOCKSIZE, "ends before its end marker"),
        (b"\0" * 2 * tarfile.BLOCKSIZE, None),
        (b"\0" * 2 * tarfile.BLOCKSIZE + b"x", "data after the end"),
    ],
)
async def test_a_tar_is_whole_only_with_its_end_marker(
    tmp_path: Path, tail: bytes, error: str | None
) -> None:
    obj = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(
        _tar_member("data/a", b"x" * 4096) + tail
    )
    b = Bucket(MemoryStore(), name="b")
    await b.put_bytes("x/o.tar.zst", obj)
    if error is None:
        assert await download_unpack(b, "x/o.tar.zst", tmp_path / "d") == 4096
    else:
        with pytest.raises(BackupError, match=error):
            await download_unpack(b, "x/o.tar.zst", tmp_path / "d")


def _flip_a_byte(raw: bytes) -> bytes:
    out = bytearray(raw)
    out[len(out) // 2] ^= 0xFF
    return bytes(out)


def _cut_in_half(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


@pytest.mark.parametrize("damage", [_flip_a_byte, _cut_in_half], ids=["flipped", "cut"])
async def test_a_damaged_object_fails_instead_of_restoring_other_data(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    """Random bytes do not compress: zstd stores them as raw blocks, where a flipped byte still
    decompresses; only the frame's content checksum tells. A cut one ends inside a member."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "t.ibd").write_bytes(os.urandom(3_000_000))
    (tmp_path / "bucket").mkdir()
    b = Bucket(LocalStore(tmp_path / "bucket"), name="b")
    await upload_dir_parts(b, ["x/clone.0.tar.zst"], src, "data")
    stored = tmp_path / "bucket" / "x" / "clone.0.tar.zst"
    stored.write_bytes(damage(stored.read_bytes()))
    with pytest.raises(BackupError, match="cannot unpack"):
        await download_unpack_parts(b, ["x/clone.0.tar.zst"], tmp_path / "dest")


async def test_a_consumed_copy_is_removed_as_it_is_packed(tmp_path: Path) -> None:
    src, kept = tmp_path / "src", tmp_path / "kept"
    _tree(src)
    shutil.copytree(src, kept)
    b = Bucket(MemoryStore(), name="b")
    keys = ["x/clone.0.tar.zst", "x/clone.1.tar.zst"]
    packed = await upload_dir_parts(b, keys, src, "data", consume=True)
    assert packed.raw_bytes == 3_000_000 + 2_000_000 + 700_000 + 10
    assert not [p for p in src.rglob("*") if p.is_file()], "every file was removed once read"
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == sorted(
        p.relative_to(kept) for p in kept.rglob("*") if p.is_dir()
    )
    dest = _dirs(tmp_path / "dest")
    await download_unpack_parts(b, keys, dest)
    for f in (p for p in kept.rglob("*") if p.is_file()):
        assert (dest / "data" / f.relative_to(kept)).read_bytes() == f.read_bytes()


class _EndSignalled(Bucket):
    """The bucket, in small chunks, telling when a download has handed over its last chunk."""

    def __init__(self, inner: Bucket) -> None:
        super().__init__(inner.store, name=inner.name, backend=inner.backend, op_timeout=inner.op_timeout)
        self.ended = asyncio.Event()

    async def get_stream(self, key: str, *, chunk_size: int = 8 * 1024 * 1024) -> AsyncIterator[bytes]:
        async for chunk in super().get_stream(key, chunk_size=64 * 1024):
            yield chunk
        self.ended.set()


def _sizes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in root.rglob("*") if p.is_file()}


async def test_a_download_cancelled_while_handing_over_its_end_leaves_no_writer(tmp_path: Path) -> None:
    """A download cancelled after its last chunk, while its thread still unpacks what was queued:
    the cancel returned while the thread went on writing (a restore then removed its staging
    directory under it and files reappeared). Now the queued chunks are dropped and the thread
    is waited for: once the cancel is raised, nothing under dest changes."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "ibdata1").write_bytes(os.urandom(24_000_000))
    (tmp_path / "bucket").mkdir()
    b = _EndSignalled(Bucket(LocalStore(tmp_path / "bucket"), name="b"))
    await upload_dir_parts(b, ["x/clone.0.tar.zst"], src, "data")
    dest = tmp_path / "dest"
    task = asyncio.create_task(download_unpack(b, "x/clone.0.tar.zst", dest))
    await asyncio.wait_for(b.ended.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    before = _sizes(dest)
    await asyncio.sleep(0.5)
    assert _sizes(dest) == before


async def test_the_sink_hands_whole_blocks_in_order_and_copies_a_reused_buffer() -> None:
    """The packer's output reaches the upload in pieces of at least BLOCK bytes (but the last),
    byte for byte in order; a caller's buffer written and then reused is not what is sent."""
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[bytes] = asyncio.Queue()
    sink = _Sink(loop, q, threading.Event())
    reused = bytearray(b"r" * 1000)
    pieces = [os.urandom(BLOCK // 3) for _ in range(7)]

    def write() -> None:
        sink.write(reused)
        reused[:] = b"s" * 1000
        for p in pieces:
            sink.write(p)
        sink.write(b"")
        sink.finish()

    await asyncio.to_thread(write)
    sent = [q.get_nowait() for _ in range(q.qsize())]
    assert all(len(c) >= BLOCK for c in sent[:-1])
    assert b"".join(sent) == b"r" * 1000 + b"".join(pieces)
