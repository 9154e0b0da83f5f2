"""A directory streamed to the bucket as one zstd-compressed tar, and back.

The tar is written by a worker thread (:mod:`tarfile`, then :mod:`zstandard` with its own
compression threads, both releasing the GIL on the large copies) into a bounded queue that the
event loop drains into a multipart upload: reading, compressing and uploading overlap, and at
most ``queue_depth`` blocks are held in memory. The way back is the mirror image: downloaded
chunks go through a bounded queue to a thread that decompresses and unpacks.

Members are regular files and directories only; unpacking refuses anything that would land
outside the destination (tarfile's ``data`` filter).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import queue
import tarfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import zstandard

from moco.backup.bucket import Bucket
from moco.backup.errors import BackupError

BLOCK: Final = 4 * 1024 * 1024
_END: Final = b""


@dataclass(frozen=True)
class Packed:
    """What :func:`upload_dir` sent: bytes of files read, bytes stored in the bucket."""

    raw_bytes: int
    stored_bytes: int


class _Sink(io.RawIOBase):
    """A write-only file that hands BLOCK-sized pieces to the event loop (blocking when it lags)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, q: asyncio.Queue[bytes], stop: threading.Event
    ) -> None:
        self._loop = loop
        self._q = q
        self._stop = stop
        self._buf = bytearray()

    def writable(self) -> bool:
        return True

    def _send(self, data: bytes) -> None:
        if self._stop.is_set():
            raise BackupError("upload aborted")
        asyncio.run_coroutine_threadsafe(self._q.put(data), self._loop).result()

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buf += b
        while len(self._buf) >= BLOCK:
            self._send(bytes(self._buf[:BLOCK]))
            del self._buf[:BLOCK]
        return len(b)

    def finish(self) -> None:
        if self._buf:
            self._send(bytes(self._buf))
            self._buf.clear()


def members(root: Path) -> list[Path]:
    """Directories and regular files under ``root`` (symlinks and others left out), sorted."""
    return [p for p in sorted(root.rglob("*")) if not p.is_symlink() and (p.is_file() or p.is_dir())]


def partition(sizes: dict[Path, int], n: int) -> list[list[Path]]:
    """``n`` groups of about equal total size (largest first into the lightest group; pure).

    Directories (size -1) all go to the first group; each group is sorted.
    """
    groups: list[list[Path]] = [[] for _ in range(max(n, 1))]
    totals = [0] * len(groups)
    for p, size in sorted(sizes.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        i = 0 if size < 0 else totals.index(min(totals))
        groups[i].append(p)
        totals[i] += max(size, 0)
    return [sorted(g) for g in groups]


def _pack(root: Path, paths: list[Path], arcname: str, sink: _Sink, level: int, threads: int) -> int:
    raw = 0
    cctx = zstandard.ZstdCompressor(level=level, threads=threads)
    with (
        cctx.stream_writer(sink, closefd=False) as zw,  # type: ignore[arg-type]
        tarfile.open(fileobj=zw, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in paths:
            rel = path.relative_to(root)
            info = tar.gettarinfo(str(path), arcname=f"{arcname}/{rel}")
            if path.is_file():
                with path.open("rb") as f:
                    tar.addfile(info, f)
                raw += info.size
            else:
                tar.addfile(info)
    sink.finish()
    return raw


async def upload_dir(
    bucket: Bucket,
    key: str,
    root: Path,
    arcname: str,
    *,
    level: int = 1,
    threads: int = 2,
    concurrency: int = 8,
    queue_depth: int = 16,
    paths: list[Path] | None = None,
) -> Packed:
    """Upload ``root`` (or only ``paths`` under it) as ``arcname/...`` in a tar.zst at ``key``."""
    todo = members(root) if paths is None else paths
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_depth)
    stop = threading.Event()
    sink = _Sink(loop, q, stop)
    result: dict[str, int] = {}

    def work() -> None:
        try:
            result["raw"] = _pack(root, todo, arcname, sink, level, threads)
        finally:
            with contextlib.suppress(BaseException):
                asyncio.run_coroutine_threadsafe(q.put(_END), loop).result(timeout=60)

    producer = loop.run_in_executor(None, work)

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            c = await q.get()
            if c is _END or not c:
                return
            yield c

    try:
        stored = await bucket.put_stream(key, chunks(), concurrency=concurrency)
    except BaseException:
        stop.set()
        while not q.empty():
            q.get_nowait()
        with contextlib.suppress(BaseException):
            await producer
        raise
    await producer  # re-raises an error of the packing thread
    return Packed(raw_bytes=result.get("raw", 0), stored_bytes=stored)


async def upload_dir_parts(
    bucket: Bucket,
    keys: list[str],
    root: Path,
    arcname: str,
    *,
    level: int = 1,
    threads: int = 0,
    concurrency: int = 8,
) -> Packed:
    """Upload ``root`` as ``len(keys)`` tar.zst objects of about equal size, all at once.

    Each part is packed and compressed by its own thread and uploaded by its own multipart
    upload, so compression uses every core and the store receives parallel streams; unpacking
    every part into one directory gives ``root`` back.
    """
    paths = members(root)
    sizes = {p: (p.stat().st_size if p.is_file() else -1) for p in paths}
    groups = partition(sizes, len(keys))
    per = max(concurrency // max(len(keys), 1), 2)
    done = await asyncio.gather(
        *(
            upload_dir(bucket, k, root, arcname, level=level, threads=threads, concurrency=per, paths=g)
            for k, g in zip(keys, groups, strict=True)
        )
    )
    return Packed(raw_bytes=sum(p.raw_bytes for p in done), stored_bytes=sum(p.stored_bytes for p in done))


class _Source(io.RawIOBase):
    """A read-only file fed by the event loop through a bounded queue."""

    def __init__(self, q: queue.Queue[bytes | None]) -> None:
        self._q = q
        self._buf = memoryview(b"")
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf and not self._eof:
            c = self._q.get()
            if c is None:
                self._eof = True
            else:
                self._buf = memoryview(c)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _unpack(src: _Source, dest: Path) -> int:
    dctx = zstandard.ZstdDecompressor()
    total = 0
    with (
        dctx.stream_reader(src, read_size=BLOCK, closefd=False) as zr,  # type: ignore[arg-type]
        tarfile.open(fileobj=zr, mode="r|") as tar,
    ):
        for member in tar:
            if not (member.isfile() or member.isdir()):
                continue
            tar.extract(member, dest, filter="data")
            total += member.size
    # drain what is left (the tar's end blocks) so the feeder never blocks
    while src.read(BLOCK):
        pass
    return total


async def download_unpack(bucket: Bucket, key: str, dest: Path, *, queue_depth: int = 16) -> int:
    """Download the tar.zst at ``key`` and unpack it under ``dest``; returns the unpacked bytes."""
    os.makedirs(dest, exist_ok=True)
    q: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_depth)
    loop = asyncio.get_running_loop()
    consumer = loop.run_in_executor(None, _unpack, _Source(q), dest)
    failed = False
    try:
        async for chunk in bucket.get_stream(key):
            while True:
                try:
                    q.put_nowait(chunk)
                    break
                except queue.Full:
                    if consumer.done():
                        break
                    await asyncio.sleep(0.002)
            if consumer.done():
                break
    except BaseException:
        failed = True
        raise
    finally:
        while True:
            try:
                q.put_nowait(None)
                break
            except queue.Full:
                if consumer.done():
                    break
                await asyncio.sleep(0.002)
        if failed:
            # the unpacking thread sees a truncated stream: its error is the download's
            with contextlib.suppress(Exception):
                await consumer
    try:
        return await consumer
    except (tarfile.TarError, zstandard.ZstdError, OSError) as e:
        raise BackupError(f"{key}: cannot unpack: {e}") from e


async def download_unpack_parts(bucket: Bucket, keys: list[str], dest: Path) -> int:
    """:func:`download_unpack` of every part at once into ``dest``; returns the unpacked bytes."""
    os.makedirs(dest, exist_ok=True)
    sizes = await asyncio.gather(*(download_unpack(bucket, k, dest) for k in keys))
    return sum(sizes)


__all__ = [
    "Packed",
    "download_unpack",
    "download_unpack_parts",
    "members",
    "partition",
    "upload_dir",
    "upload_dir_parts",
]
