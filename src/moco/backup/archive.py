"""A directory streamed to the bucket as one zstd-compressed tar, and back.

The tar is written by a worker thread (headers by :mod:`tarfile`, file contents read in
:data:`BLOCK` pieces and compressed by :mod:`zstandard`, which releases the GIL) into a bounded
queue that the event loop drains into a multipart upload: reading, compressing and uploading
overlap, and at most ``queue_depth`` blocks are held in memory. The way back is the mirror
image: downloaded chunks go through a bounded queue to a thread that decompresses each file's
contents straight into one aligned buffer and writes them past the page cache
(:func:`_write_file`). Every zstd frame carries its content checksum, so a corrupted object
fails the restore instead of restoring other data, and every tar its end marker, so a cut one
does too (:func:`_read_end`).

Where a streamed copy's time goes is counted per thread in a :class:`PipeStats` (reading,
zstd, waiting for the other end, writing), since the stages overlap and have no wall time of
their own.

Members are regular files and directories only; unpacking refuses anything that would land
outside the destination (tarfile's ``data`` filter).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import io
import mmap
import os
import queue
import stat
import tarfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

import zstandard

from moco.backup.bucket import Bucket
from moco.backup.errors import BackupError
from moco.tasks import gather_all

#: The unit of reading, compressing and queueing (large enough that per-call costs vanish).
BLOCK: Final = 4 * 1024 * 1024
#: What is written past the page cache is written in multiples of this (the largest logical
#: block size of common disks; O_DIRECT wants offsets and lengths aligned to the disk's).
ALIGN: Final = 4096
#: zstd level 1: the fast levels and lz4 save the packers less CPU than the store then spends
#: on the bytes they add. Measured on the benchmark's cloned tablespaces (InnoDB pages of random
#: rows, 200 MB, one core): level 3 3.08x at 164 MB/s, level 1 3.14x at 309 MB/s, -1 1.93x at
#: 345 MB/s, -3 1.89x at 594 MB/s, -5 1.86x at 674 MB/s, -10 1.84x at 990 MB/s, lz4 (PyPI,
#: frame format) 1.84x at 714 MB/s: below level 1 the ratio falls by 40 % at once. In the whole
#: backup (476 MB copy, versitygw on loopback, CPU seconds of every process): level -5 took the
#: packers 0.86-0.91 s against 1.49-1.59 s, but stored 200 MB against 117 MB, and the S3
#: server, which spends about 5 s of CPU per GB it receives, spent 1.0 s against 0.6 s, the
#: client 0.1 s more: 0.15 s of CPU saved in 5 s, no wall time told apart from the noise, and
#: 71 % more bytes stored and sent over a real network.
ZSTD_LEVEL: Final = 1
_END: Final = b""
#: Members of a delta part (:func:`upload_ranges`): ``size/<name>`` holds a file's final size in
#: decimal, ``delta/<offset>/<name>`` the bytes to write at that offset of the file ``<name>``.
SIZE_PREFIX: Final = "size/"
DELTA_PREFIX: Final = "delta/"


class Recorder(Protocol):
    """Told what a packer reads of a copy still being written (:mod:`moco.backup.streamcopy`):
    each file's state just before it is read (None: it shrank while read, the rest of its member
    is zeros), and every block read, at its offset (a view of the packer's buffer, valid only
    during the call: the recorder keeps a digest, not the bytes)."""

    def seen(self, path: Path, st: os.stat_result | None) -> None: ...

    def block(self, path: Path, offset: int, data: memoryview) -> None: ...


@dataclass
class PipeStats:
    """Thread seconds of a streamed copy, summed over its parts (may exceed the wall time).

    Packing: ``read`` files, ``zstd`` compression, ``wait`` blocked while the upload lags.
    Unpacking: ``wait`` for downloaded bytes, ``zstd`` decompression, ``write`` tar parsing and
    file writes. ``cpu``: the threads' CPU time; far less than their wall time means they were
    waiting for a core (a busy machine), not working.
    """

    read: float = 0.0
    zstd: float = 0.0
    wait: float = 0.0
    write: float = 0.0
    cpu: float = 0.0

    def add(self, other: PipeStats) -> None:
        self.read += other.read
        self.zstd += other.zstd
        self.wait += other.wait
        self.write += other.write
        self.cpu += other.cpu

    def phases(self, prefix: str) -> dict[str, float]:
        """The non-zero counters as ``prefix.name`` phases (:mod:`moco.backup.phases`)."""
        items = {
            "read": self.read,
            "zstd": self.zstd,
            "wait": self.wait,
            "write": self.write,
            "cpu": self.cpu,
        }
        return {f"{prefix}.{k}": v for k, v in items.items() if v > 0}


@dataclass(frozen=True)
class Packed:
    """What :func:`upload_dir` sent: bytes of files read, bytes stored in the bucket."""

    raw_bytes: int
    stored_bytes: int
    stats: PipeStats = field(default_factory=PipeStats, compare=False)


class _Sink(io.RawIOBase):
    """A write-only file that hands pieces of at least BLOCK bytes (but the last) to the event
    loop, blocking when it lags.

    What is written is kept as the objects given (zstd's output: immutable bytes) and joined
    once per piece: one copy of each byte on its way to the upload, where slicing a growing
    buffer made three.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        q: asyncio.Queue[bytes],
        stop: threading.Event,
        stats: PipeStats | None = None,
    ) -> None:
        self._loop = loop
        self._q = q
        self._stop = stop
        self._pieces: list[bytes] = []
        self._held = 0
        self.stats = stats if stats is not None else PipeStats()

    def writable(self) -> bool:
        return True

    def _send(self, data: bytes) -> None:
        if self._stop.is_set():
            raise BackupError("upload aborted")
        t = time.monotonic()
        asyncio.run_coroutine_threadsafe(self._q.put(data), self._loop).result()
        self.stats.wait += time.monotonic() - t

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        n = len(b)
        if n:
            # a caller's buffer may be reused once this returns: only bytes are kept as given
            self._pieces.append(b if isinstance(b, bytes) else bytes(b))
            self._held += n
            if self._held >= BLOCK:
                self._flush()
        return n

    def _flush(self) -> None:
        data = self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)
        self._pieces.clear()
        self._held = 0
        self._send(data)

    def finish(self) -> None:
        if self._held:
            self._flush()


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


def _tarinfo(path: Path, name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = st.st_mode & 0o7777
    info.mtime = int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    else:
        info.size = st.st_size
    return info


def _pack(
    root: Path,
    paths: Iterable[Path],
    arcname: str,
    sink: _Sink,
    level: int,
    threads: int,
    consume: bool,
    record: Recorder | None = None,
) -> int:
    """Write ``paths`` as a tar stream compressed with zstd into ``sink``; returns bytes read.

    A file is read in :data:`BLOCK` pieces straight into one buffer and compressed from it (no
    intermediate copies); it is archived at the size it had when its header was written, and
    one that shrinks meanwhile fails the copy (CLONE's output does not change once written),
    unless ``record`` is given: ``record(path, stat)`` is then told each file's state before it
    is read (``None``: it shrank, the rest of its member is zeros) for a copy still being
    written (:mod:`moco.backup.streamcopy`). ``consume``: each file is removed once read.
    """
    stats = sink.stats
    cpu = time.thread_time()
    comp = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True).compressobj()
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    raw = 0

    def out(data: bytes | memoryview) -> None:
        t = time.monotonic()
        packed = comp.compress(data)
        stats.zstd += time.monotonic() - t
        if packed:
            sink.write(packed)

    for path in paths:
        if path.is_dir():
            out(
                _tarinfo(path, f"{arcname}/{path.relative_to(root)}", path.stat()).tobuf(
                    format=tarfile.PAX_FORMAT
                )
            )
            continue
        try:
            f = path.open("rb", buffering=0)
        except FileNotFoundError:
            if record is None:
                raise
            record.seen(path, None)  # gone before it was read: looked at again after the copy
            continue
        with f:
            # the state of what is read: the open file's, whatever happens to its name
            st = os.fstat(f.fileno())
            if record is not None:
                record.seen(path, st)
            info = _tarinfo(path, f"{arcname}/{path.relative_to(root)}", st)
            out(info.tobuf(format=tarfile.PAX_FORMAT))
            left = info.size
            while left > 0:
                t = time.monotonic()
                n = f.readinto(view[: min(BLOCK, left)])
                stats.read += time.monotonic() - t
                if not n:
                    if record is None:
                        raise BackupError(f"{path}: shrank from {info.size} bytes while being archived")
                    record.seen(path, None)
                    n = min(BLOCK, left)
                    view[:n] = bytes(n)
                elif record is not None:
                    record.block(path, info.size - left, view[:n])
                out(view[:n])
                left -= n
        raw += info.size
        if consume:
            path.unlink()
        if info.size % tarfile.BLOCKSIZE:
            out(bytes(tarfile.BLOCKSIZE - info.size % tarfile.BLOCKSIZE))
    # the end of the archive: two zero blocks
    out(bytes(2 * tarfile.BLOCKSIZE))
    t = time.monotonic()
    tail = comp.flush()
    stats.zstd += time.monotonic() - t
    sink.write(tail)
    sink.finish()
    stats.cpu += time.thread_time() - cpu
    return raw


async def upload_dir(
    bucket: Bucket,
    key: str,
    root: Path,
    arcname: str,
    *,
    level: int = ZSTD_LEVEL,
    threads: int = 2,
    concurrency: int = 8,
    queue_depth: int = 16,
    paths: Iterable[Path] | None = None,
    consume: bool = False,
    record: Recorder | None = None,
) -> Packed:
    """Upload ``root`` (or only ``paths`` under it) as ``arcname/...`` in a tar.zst at ``key``.

    ``consume``: remove each file as soon as it is read (the caller's throw-away copy, see
    :func:`upload_dir_parts`); directories are left. ``record``: see :func:`_pack`.
    """
    todo = members(root) if paths is None else paths
    return await _stream_packed(
        bucket,
        key,
        lambda sink: _pack(root, todo, arcname, sink, level, threads, consume, record),
        concurrency=concurrency,
        queue_depth=queue_depth,
    )


async def _stream_packed(
    bucket: Bucket, key: str, pack: Callable[[_Sink], int], *, concurrency: int, queue_depth: int = 16
) -> Packed:
    """Run ``pack`` (it writes the object's bytes into its sink and returns the raw bytes it
    packed) in a thread while its output is uploaded as ``key``, at most ``queue_depth`` blocks
    held. When the upload fails or is cancelled the thread is told to stop and is waited for,
    through any further cancellation, so that it reads (or, consuming, removes) nothing once
    this returns."""
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_depth)
    stop = threading.Event()
    sink = _Sink(loop, q, stop, PipeStats())
    result: dict[str, int] = {}

    def work() -> None:
        try:
            result["raw"] = pack(sink)
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
        while not producer.done():
            while not q.empty():
                q.get_nowait()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({producer}, timeout=0.05)
        with contextlib.suppress(BaseException):
            producer.result()
        raise
    await producer  # re-raises an error of the packing thread
    return Packed(raw_bytes=result.get("raw", 0), stored_bytes=stored, stats=sink.stats)


async def upload_dir_parts(
    bucket: Bucket,
    keys: list[str],
    root: Path,
    arcname: str,
    *,
    level: int = ZSTD_LEVEL,
    threads: int = 0,
    concurrency: int = 8,
    consume: bool = False,
    paths: list[Path] | None = None,
) -> Packed:
    """Upload ``root`` (or only ``paths`` under it) as ``len(keys)`` tar.zst objects of about
    equal size, all at once.

    Each part is packed and compressed by its own thread and uploaded by its own multipart
    upload, so compression uses every core and the store receives parallel streams; unpacking
    every part into one directory gives ``root`` back.

    ``consume``: each file is removed as soon as it is read, so the removal of a throw-away copy
    (a backup's clone) overlaps the packing instead of following the upload (removing a 0.8 GB
    clone afterwards took 0.2-0.3 s); a failed upload leaves the copy partly removed.
    """
    paths = members(root) if paths is None else paths
    sizes = {p: (p.stat().st_size if p.is_file() else -1) for p in paths}
    groups = partition(sizes, len(keys))
    per = max(concurrency // max(len(keys), 1), 2)
    done = await gather_all(
        *(
            upload_dir(
                bucket,
                k,
                root,
                arcname,
                level=level,
                threads=threads,
                concurrency=per,
                paths=g,
                consume=consume,
            )
            for k, g in zip(keys, groups, strict=True)
        )
    )
    stats = PipeStats()
    for p in done:
        stats.add(p.stats)
    return Packed(
        raw_bytes=sum(p.raw_bytes for p in done), stored_bytes=sum(p.stored_bytes for p in done), stats=stats
    )


async def upload_feed_parts(
    bucket: Bucket,
    keys: list[str],
    root: Path,
    arcname: str,
    feed: FileFeed,
    *,
    level: int = ZSTD_LEVEL,
    threads: int = 0,
    concurrency: int = 8,
) -> Packed:
    """Upload the files ``feed`` hands over (under ``root``) as ``len(keys)`` tar.zst objects,
    each packed by its own thread taking the next file as it comes (a copy still being
    written: :mod:`moco.backup.streamcopy`); each file's state before its read is recorded by
    the feed."""
    per = max(concurrency // max(len(keys), 1), 2)
    done = await gather_all(
        *(
            upload_dir(
                bucket, k, root, arcname, level=level, threads=threads, concurrency=per,
                paths=feed.paths(), record=feed.record,
            )
            for k in keys
        )
    )  # fmt: skip
    stats = PipeStats()
    for p in done:
        stats.add(p.stats)
    return Packed(
        raw_bytes=sum(p.raw_bytes for p in done), stored_bytes=sum(p.stored_bytes for p in done), stats=stats
    )


def _pack_ranges(
    root: Path, files: list[tuple[Path, int, list[tuple[int, int]]]], sink: _Sink, level: int
) -> int:
    """Write a delta part (:data:`DELTA_PREFIX`) of ``files`` (path, final size, changed ranges)
    into ``sink``; returns the bytes of the ranges."""
    comp = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
    raw = 0

    def member(name: str, data: bytes | memoryview) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        sink.write(comp.compress(info.tobuf(format=tarfile.PAX_FORMAT)))
        sink.write(comp.compress(data))
        if len(data) % tarfile.BLOCKSIZE:
            sink.write(comp.compress(bytes(tarfile.BLOCKSIZE - len(data) % tarfile.BLOCKSIZE)))

    for path, size, ranges in files:
        name = f"data/{path.relative_to(root)}"
        member(f"{SIZE_PREFIX}{name}", str(size).encode())
        with path.open("rb", buffering=0) as f:
            for offset, length in ranges:
                data = os.pread(f.fileno(), length, offset)
                if len(data) != length:
                    raise BackupError(f"{path}: {length} bytes at {offset} changed size while being sent")
                member(f"{DELTA_PREFIX}{offset}/{name}", data)
                raw += length
    sink.write(comp.compress(bytes(2 * tarfile.BLOCKSIZE)))
    sink.write(comp.flush())
    sink.finish()
    return raw


async def upload_ranges(
    bucket: Bucket,
    key: str,
    root: Path,
    files: list[tuple[Path, int, list[tuple[int, int]]]],
    *,
    level: int = ZSTD_LEVEL,
    concurrency: int = 8,
) -> Packed:
    """Upload a delta part: for each file under ``root``, its final size and the byte ranges
    to write over what the parts hold (:mod:`moco.backup.streamcopy`)."""
    return await _stream_packed(
        bucket, key, lambda sink: _pack_ranges(root, files, sink, level), concurrency=concurrency
    )


def _apply_range(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> int:
    """A delta part's member applied under ``dest`` (a size: truncate; a range: write at its
    offset); a name that would leave ``dest`` is refused."""
    if member.name.startswith(SIZE_PREFIX):
        offset, name = -1, member.name.removeprefix(SIZE_PREFIX)
    else:
        off, _, name = member.name.removeprefix(DELTA_PREFIX).partition("/")
        if not off.isdigit():
            raise BackupError(f"a delta member with no offset: {member.name!r}")
        offset = int(off)
    target = (dest / name).resolve()
    if not target.is_relative_to(dest.resolve()) or ".." in name.split("/"):
        raise BackupError(f"a delta member outside the copy: {member.name!r}")
    src = tar.extractfile(member)
    if src is None:
        raise BackupError(f"a delta member that is not a file: {member.name!r}")
    data = src.read()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o640)
    try:
        if offset < 0:
            os.ftruncate(fd, int(data.decode()))
            return 0
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)
    return len(data)


class FileFeed(Protocol):
    """Where :func:`upload_feed_parts` takes its files (:class:`moco.backup.streamcopy.Feed`)."""

    def paths(self) -> Iterator[Path]: ...

    @property
    def record(self) -> Recorder: ...


class _Source(io.RawIOBase):
    """A read-only file fed by the event loop through a bounded queue."""

    def __init__(self, q: queue.Queue[bytes | None]) -> None:
        self._q = q
        self._buf = memoryview(b"")
        self._eof = False
        #: seconds spent waiting for the event loop's chunks
        self.stats = PipeStats()

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf and not self._eof:
            t = time.monotonic()
            c = self._q.get()
            self.stats.wait += time.monotonic() - t
            if c is None:
                self._eof = True
            else:
                self._buf = memoryview(c)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class _ReadInto(Protocol):
    def readinto(self, b: bytearray | memoryview) -> int: ...


def _admitted(member: tarfile.TarInfo, dest: Path) -> tarfile.TarInfo:
    """``member`` as the ``data`` filter admits it under ``dest``, its directory made when
    missing (a name that would leave ``dest`` is refused before anything is made).

    Parts are unpacked at once into one tree, and tarfile makes a missing directory with
    ``os.makedirs`` after checking that it does not exist: two parts that share one fail in the
    second to make it (``File exists``). Made here first, tolerating the other part."""
    try:
        safe = tarfile.data_filter(member, str(dest))
    except tarfile.FilterError as e:
        raise BackupError(f"a member outside the copy: {member.name!r}: {e}") from e
    os.makedirs((dest / safe.name).parent, exist_ok=True)
    return safe


class _Forward(io.RawIOBase):
    """The decompressed tar, read forwards only: what :class:`tarfile.TarFile` needs (read, tell,
    a seek ahead over padding) and :meth:`fill`, which decompresses a file's contents straight
    into the caller's buffer. The seconds spent in zstd are added to ``stats.zstd``."""

    def __init__(self, raw: _ReadInto, stats: PipeStats) -> None:
        self._raw = raw
        self._stats = stats
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        t = time.monotonic()
        n = self._raw.readinto(b) or 0
        self._stats.zstd += time.monotonic() - t
        self._pos += n
        return n

    def fill(self, view: memoryview) -> int:
        """Fill ``view``; fewer bytes only at the end of the stream."""
        got = 0
        while got < len(view):
            n = self.readinto(view[got:])
            if not n:
                break
            got += n
        return got

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence != os.SEEK_SET:
            raise io.UnsupportedOperation("the tar stream is read forwards only")
        if offset < self._pos:
            raise io.UnsupportedOperation(f"the tar stream cannot go back ({self._pos} -> {offset})")
        skip = memoryview(bytearray(min(offset - self._pos, BLOCK)))
        while self._pos < offset and self.readinto(skip[: offset - self._pos]):
            pass
        return self._pos


def _create(path: Path, direct: bool) -> tuple[int, bool]:
    """``path`` created empty for writing (never through a symlink), with O_DIRECT when asked and
    the file system takes it (tmpfs before Linux 6.6 refuses it); returns the descriptor and
    whether it is direct."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    if direct:
        try:
            return os.open(path, flags | os.O_DIRECT, 0o600), True
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
    return os.open(path, flags, 0o600), False


def _write_file(stream: _Forward, member: tarfile.TarInfo, path: Path, buf: memoryview, direct: bool) -> None:
    """The member's contents from ``stream`` into a new file at ``path``, then its mode and time.

    ``direct``: written past the page cache (O_DIRECT) in aligned blocks, the unaligned tail
    through it. For a copy that a mysqld with O_DIRECT (moco's setting, and MySQL 8.4+'s
    default) starts on, and that is flushed to the disk before the restore ends, caching is
    only cost, and a cost that varies: the benchmark's 979 MB copy was unpacked in 0.6-2.1 s
    through the cache (0.4-3.1 s of kernel time on a VM whose free memory is first faulted in
    from the host) against 0.6-0.8 s direct (0.1 s). A copy read again at once through the
    cache (a scratch server's, the binlogs) is better written through it. A file system or
    disk that refuses a direct write gets the rest of the file through the cache."""
    fd, direct = _create(path, direct)
    try:
        left = member.size
        while left > 0:
            want = min(len(buf), left)
            n = stream.fill(buf[:want])
            if n < want:
                raise tarfile.ReadError(f"unexpected end of data in {member.name!r}")
            left -= n
            done = 0
            if direct:
                aligned = n - n % ALIGN
                try:
                    done = os.write(fd, buf[:aligned]) if aligned else 0
                except OSError as e:
                    if e.errno != errno.EINVAL:
                        raise
                if done < n:
                    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
                    direct = False
            while done < n:
                done += os.write(fd, buf[done:n])
        if member.mode is not None:
            os.fchmod(fd, member.mode)
    finally:
        os.close(fd)
    os.utime(path, (member.mtime, member.mtime))


def _read_end(stream: _Forward, tar: tarfile.TarFile, buf: memoryview) -> None:
    """Read the tar's end marker (two zero blocks) and the frame to its end, so that its checksum
    is verified. zstd decodes a frame cut short without a word, and a cut between two members
    reads as a tar that ended: only the marker tells a whole copy from a cut one."""
    # tarfile stopped at the first zero block (read, not counted in tar.offset) or at the end
    zeros = stream.tell() - tar.offset
    while True:
        n = stream.readinto(buf)
        if not n:
            break
        if any(buf[:n]):
            raise tarfile.ReadError("data after the end of the archive")
        zeros += n
    if zeros < 2 * tarfile.BLOCKSIZE:
        raise tarfile.ReadError("the archive ends before its end marker: the object was cut short")


def _unpack(src: _Source, dest: Path, direct: bool) -> int:
    """Unpack the tar.zst read from ``src`` under ``dest``; returns the bytes of its files
    (``direct``: :func:`_write_file`)."""
    stats = src.stats
    started = time.monotonic()
    cpu = time.thread_time()
    total = 0
    # one block per part, page-aligned as O_DIRECT wants
    with mmap.mmap(-1, BLOCK) as block:
        buf = memoryview(block)
        try:
            dctx = zstandard.ZstdDecompressor()
            with dctx.stream_reader(src, read_size=BLOCK, closefd=False) as zr:  # type: ignore[arg-type]
                stream = _Forward(zr, stats)
                with tarfile.open(fileobj=stream, mode="r:") as tar:
                    for member in tar:
                        if member.isfile() and member.name.startswith((SIZE_PREFIX, DELTA_PREFIX)):
                            total += _apply_range(tar, member, dest)
                        elif member.isfile():
                            safe = _admitted(member, dest)
                            _write_file(stream, safe, dest / safe.name, buf, direct)
                            total += member.size
                        elif member.isdir():
                            tar.extract(_admitted(member, dest), dest, filter="fully_trusted")
                    _read_end(stream, tar, buf)
        finally:
            buf.release()
    # the zstd reader's time includes the waits for the download: counted once, as waits
    stats.zstd -= stats.wait
    # what the frame did not take (nothing, for a whole object), so the feeder never blocks
    while src.read(BLOCK):
        pass
    stats.write = time.monotonic() - started - stats.zstd - stats.wait
    stats.cpu = time.thread_time() - cpu
    return total


async def _feed(q: queue.Queue[bytes | None], item: bytes | None, consumer: asyncio.Future[int]) -> bool:
    """Hand ``item`` to the unpacking thread, waiting while its queue is full; False when the
    thread ended (an error of its own: the caller stops feeding)."""
    while True:
        try:
            q.put_nowait(item)
            return True
        except queue.Full:
            if consumer.done():
                return False
            await asyncio.sleep(0.002)


def _end_now(q: queue.Queue[bytes | None]) -> None:
    """Drop what the thread has not taken and put the end of the stream (never blocks: only the
    caller puts, so the queue has room once emptied)."""
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            break
    q.put_nowait(None)


async def download_unpack(
    bucket: Bucket,
    key: str,
    dest: Path,
    *,
    queue_depth: int = 16,
    stats: PipeStats | None = None,
    direct: bool = False,
) -> int:
    """Download the tar.zst at ``key`` and unpack it under ``dest``; returns the unpacked bytes.

    ``stats`` (when given) is added the unpacking thread's times; ``direct``: the files are
    written past the page cache (:func:`_write_file` says when that pays).
    """
    os.makedirs(dest, exist_ok=True)
    q: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_depth)
    loop = asyncio.get_running_loop()
    src = _Source(q)
    consumer = loop.run_in_executor(None, _unpack, src, dest, direct)
    try:
        async for chunk in bucket.get_stream(key):
            if not await _feed(q, chunk, consumer):
                break
        await _feed(q, None, consumer)
        try:
            total = await asyncio.shield(consumer)
        except (tarfile.TarError, zstandard.ZstdError, OSError) as e:
            raise BackupError(f"{key}: cannot unpack: {e}") from e
    except BaseException:
        # The download failed or was cancelled, anywhere (even while the end of the stream was
        # being handed over, or while the thread finished): the chunks the thread has not taken
        # are dropped and the end put in their place, with no await (so a second cancel cannot
        # cut this short); the thread sees a truncated stream and ends, and is waited for
        # through any cancellation, so that nothing writes under dest once this returns (a
        # caller removes what was unpacked).
        _end_now(q)
        while not consumer.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({consumer})
        with contextlib.suppress(BaseException):
            consumer.result()
        raise
    if stats is not None:
        stats.add(src.stats)
    return total


async def download_unpack_parts(
    bucket: Bucket, keys: list[str], dest: Path, *, stats: PipeStats | None = None, direct: bool = False
) -> int:
    """:func:`download_unpack` of every part at once into ``dest``; returns the unpacked bytes.

    ``stats`` (when given) is added the unpacking threads' times, summed.
    """
    os.makedirs(dest, exist_ok=True)
    sizes = await gather_all(*(download_unpack(bucket, k, dest, stats=stats, direct=direct) for k in keys))
    return sum(sizes)


__all__ = [
    "BLOCK",
    "ZSTD_LEVEL",
    "Packed",
    "PipeStats",
    "download_unpack",
    "download_unpack_parts",
    "members",
    "partition",
    "upload_dir",
    "upload_dir_parts",
    "upload_feed_parts",
    "upload_ranges",
]
