"""A backup's copy packed and uploaded while CLONE is still landing it.

CLONE writes a data directory file by file (FILE COPY), then writes again the pages changed
meanwhile (PAGE COPY) and the redo (REDO COPY). Packing only after CLONE ends makes a backup
serial: the whole copy is landed before the first byte is compressed. Here the packers take
each file as soon as CLONE has left it alone, and what CLONE wrote again afterwards is sent
once more as a *patch* part. Rules:

1. **A file is taken once CLONE has written it and left it alone**: written since it was first
   seen (CLONE creates files before it fills them), its last write (``st_mtime``) at least
   :data:`STABLE_SECONDS` before the look. Files under ``#clone/`` (CLONE's own status files,
   renamed as it ends) are taken only after CLONE ended.
2. **What a packer read is known by the file's state before the read**: inode, size and
   modification time (ns), taken by the packer just before it reads the file. A file whose
   last write was less than :data:`STABLE_SECONDS` before that state is recorded as unverified.
3. **After CLONE ends, every file not taken is taken** (no wait: nothing writes any more), and
   every file taken earlier is looked at again (:func:`plan_patch`): one whose state differs,
   or which was unverified, is read again and compared block by block with what the packers
   read (the :func:`block_digest` of each block, :func:`changed_ranges`); its final size and the ranges that
   differ go into a delta part (CLONE writes again pages of files it copied long before: the
   pages, not the files, are sent again); one that is gone is listed as removed. Why the state
   is a sound filter: a write after the packer's look happens at least :data:`STABLE_SECONDS`
   after the previous write, so it gives the file a later modification time even at the
   kernel's coarse timestamp granularity (a few ms); a file whose state is the same was not
   written after it was read.
4. **A restore applies the main parts, then the delta parts, then removes the removed files**
   (:mod:`moco.backup.restore`); the manifest then has the format ``moco-clone/2``, which a
   restore that does not know delta parts refuses. A copy without delta nor removal keeps
   ``moco-clone/1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import xxhash

#: Rule 1: how long a file must have been left alone before it is taken. CLONE writes a file it
#: copies without pauses of this length (its chunks follow each other within milliseconds);
#: longer delays only shorten the overlap.
STABLE_SECONDS: Final = 0.3
#: How often the copy's directory is looked at while CLONE runs.
SCAN_INTERVAL: Final = 0.1
#: CLONE's own directory in the copy (rule 1).
CLONE_STATUS_DIR: Final = "#clone"
#: A file's state (rule 2): inode, size, modification time in ns; ``UNVERIFIED`` when the
#: packer's look came too soon after a write.
FileState = tuple[int, int, int]
UNVERIFIED: Final[FileState] = (-1, -1, -1)
#: A block a packer read: offset, length, :func:`block_digest` of its bytes.
Block = tuple[int, int, bytes]
#: How a file differs from what the parts hold: its final size and the byte ranges to send.
Ranges = tuple[int, list[tuple[int, int]]]


def block_digest(data: bytes | bytearray | memoryview) -> bytes:
    """What rule 3 compares of a block: its XXH3-128 (as rsync's block checksums).

    The digest tells whether CLONE wrote a block again after a packer read it, an accident and
    not an adversary, so 128 bits of a non-cryptographic hash are enough (a missed change is a
    chance of 2^-128 per rewritten block). The packers digest every byte of the copy, so its
    speed is the backup's: measured on the benchmark's InnoDB files (4 MiB blocks, one core of
    the test ground), XXH3-128 6.3 GB/s, SHA-256 (with the CPU's SHA extensions) 0.9-1.2 GB/s,
    zlib's CRC-32 2.2 GB/s, zstd level 1 itself 0.5 GB/s: SHA-256 cost the packers as much CPU
    as compressing (0.48 s of 1.10 s for 369 MB), XXH3-128 a seventh of that.
    """
    return xxhash.xxh3_128_digest(data)


def state_of(st: os.stat_result, now: float) -> FileState:
    """Rule 2 for one look at a file (pure)."""
    if now - st.st_mtime < STABLE_SECONDS:
        return UNVERIFIED
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class Feed:
    """Files handed to the packing threads (each takes the next one; thread-safe).

    :meth:`close` ends every packer's list once the files offered so far are taken;
    :meth:`abort` ends them at once. A packer records the state of each file it reads in
    :attr:`taken` (rule 2).
    """

    def __init__(self, packers: int) -> None:
        self._q: queue.Queue[Path | None] = queue.Queue()
        self._packers = packers
        self._offered: set[Path] = set()
        self.aborted = False
        self.taken: dict[Path, FileState] = {}
        self.blocks: dict[Path, list[Block]] = {}

    def offer(self, paths: list[Path]) -> int:
        """Hand over the paths not offered before; returns how many were new."""
        n = 0
        for p in paths:
            if p not in self._offered:
                self._offered.add(p)
                self._q.put(p)
                n += 1
        return n

    def close(self) -> None:
        for _ in range(self._packers):
            self._q.put(None)

    def abort(self) -> None:
        self.aborted = True
        with contextlib.suppress(queue.Empty):
            while True:
                self._q.get_nowait()
        self.close()

    def paths(self) -> Iterator[Path]:
        """One packer's list: the next file offered, until closed."""
        while True:
            p = self._q.get()
            if p is None or self.aborted:
                return
            yield p

    @property
    def record(self) -> Feed:
        """What the packers tell what they read (:class:`moco.backup.archive.Recorder`)."""
        return self

    def seen(self, path: Path, st: os.stat_result | None) -> None:
        """A packer's look at ``path`` before reading it (None: it shrank while read)."""
        self.taken[path] = UNVERIFIED if st is None else state_of(st, time.time())

    def block(self, path: Path, offset: int, data: memoryview) -> None:
        """A block a packer read at ``offset`` (rule 3 compares its digest with the file's
        final bytes); called from the packer's thread, before the block is compressed."""
        self.blocks.setdefault(path, []).append((offset, len(data), block_digest(data)))


def ready_files(
    root: Path, *, final: bool, now: float | None = None, first: dict[Path, tuple[int, int]] | None = None
) -> list[Path]:
    """The regular files under ``root`` to take now (rule 1; all of them when ``final``).

    ``first`` (kept by the caller across looks) holds each file's size and mtime when first
    seen: a file not written since then is not taken before the end, as CLONE creates files
    before it fills them (one taken at once would be sent again almost whole).
    """
    out: list[Path] = []
    if not root.is_dir():
        return out
    t = time.time() if now is None else now
    for dirpath, _dirs, files in os.walk(root):
        d = Path(dirpath)
        in_status = d.relative_to(root).parts[:1] == (CLONE_STATUS_DIR,)
        for name in files:
            p = d / name
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if final:
                out.append(p)
                continue
            if in_status:
                continue
            if first is not None and first.setdefault(p, (st.st_size, st.st_mtime_ns)) == (
                st.st_size,
                st.st_mtime_ns,
            ):
                continue
            if t - st.st_mtime >= STABLE_SECONDS:
                out.append(p)
    return sorted(out)


@dataclass(frozen=True)
class Patch:
    """What the packers' reads missed (rule 3): files to pack again, files gone."""

    again: list[Path]
    removed: list[Path]


def plan_patch(taken: Mapping[Path, FileState], now: Mapping[Path, FileState | None]) -> Patch:
    """Rule 3 (pure): ``now`` is each taken file's state after CLONE ended (None: gone)."""
    again: list[Path] = []
    removed: list[Path] = []
    for p, before in sorted(taken.items()):
        after = now.get(p)
        if after is None:
            removed.append(p)
        elif before == UNVERIFIED or before != after:
            again.append(p)
    return Patch(again=again, removed=removed)


def states_now(paths: list[Path]) -> dict[Path, FileState | None]:
    """Each file's state as rule 3 compares it (None when it is gone)."""
    out: dict[Path, FileState | None] = {}
    for p in paths:
        try:
            st = p.stat()
        except FileNotFoundError:
            out[p] = None
            continue
        out[p] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def changed_ranges(path: Path, blocks: list[Block]) -> Ranges:
    """Rule 3 for a file looked at again: its final size, and the ranges whose bytes differ
    from the blocks the packers read (each block is read again and its SHA-256 compared; what
    lies past the blocks read is new). Adjacent ranges are merged."""
    ranges: list[tuple[int, int]] = []

    def add(offset: int, length: int) -> None:
        if ranges and ranges[-1][0] + ranges[-1][1] == offset:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + length)
        elif length > 0:
            ranges.append((offset, length))

    with path.open("rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        end = 0
        for offset, length, digest in sorted(blocks):
            if offset >= size:
                break
            if offset > end:  # bytes no block holds (zeros where the file shrank while read)
                add(end, offset - end)
            now = os.pread(f.fileno(), length, offset)
            if block_digest(now) != digest:
                add(offset, len(now))
            end = max(end, offset + length)
        if size > end:
            add(end, size - end)
    return size, ranges


#: Rule 4: a manifest of parts alone; one with patches or removed files.
FORMAT_PARTS: Final = "moco-clone/1"
FORMAT_PATCHED: Final = "moco-clone/2"


def manifest_format(patch: Patch) -> str:
    """Rule 4 (pure)."""
    return FORMAT_PATCHED if patch.again or patch.removed else FORMAT_PARTS


async def follow(feed: Feed, root: Path, clone: asyncio.Future[None], upload: asyncio.Future[Any]) -> None:
    """Offer ``root``'s stable files to ``feed`` until ``clone`` ends, then every file, then close
    the feed (rules 1 and 3). Raises what ended the clone, or the upload's error if the upload
    ended first (the caller stops the other)."""
    first: dict[Path, tuple[int, int]] = {}
    while not clone.done():
        if upload.done():
            upload.result()  # the upload failed (it cannot end while the feed is open)
            raise RuntimeError("the copy's upload ended before the copy")
        feed.offer(await asyncio.to_thread(ready_files, root, final=False, first=first))
        await asyncio.wait({clone, upload}, timeout=SCAN_INTERVAL, return_when=asyncio.FIRST_COMPLETED)
    clone.result()
    feed.offer(await asyncio.to_thread(ready_files, root, final=True))
    feed.close()


__all__ = [
    "FORMAT_PARTS",
    "FORMAT_PATCHED",
    "STABLE_SECONDS",
    "UNVERIFIED",
    "Feed",
    "FileState",
    "Patch",
    "block_digest",
    "changed_ranges",
    "follow",
    "manifest_format",
    "plan_patch",
    "ready_files",
    "state_of",
    "states_now",
]
