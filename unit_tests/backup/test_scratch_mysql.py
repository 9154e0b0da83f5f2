"""The Job's scratch mysqld on real mysqld: the copy CLONE writes through it is left in the page
cache for the packer that reads it next, and the copy's phases are timed."""

from __future__ import annotations

import ctypes
import mmap
from pathlib import Path

import pytest

from moco.backup.backup import clone_into
from moco.backup.phases import Phases
from moco.backup.scratch import Tools
from moco.mysql import ops
from moco.mysql.conn import connect
from unit_tests.fixtures.mysqld import MysqldFactory


def cached_fraction(path: Path) -> float:
    """The share of ``path``'s pages in the page cache (mincore(2) over a private mapping)."""
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    libc = ctypes.CDLL(None, use_errno=True)
    with path.open("rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as mm:
        buf = (ctypes.c_char * size).from_buffer(mm)
        try:
            rc = libc.mincore(ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_size_t(size), vec)
        finally:
            del buf
    assert rc == 0, f"mincore: errno {ctypes.get_errno()}"
    return sum(v & 1 for v in vec) / pages


@pytest.mark.mysql
async def test_the_cloned_copy_is_left_in_the_page_cache(
    mysqld_factory: MysqldFactory, backup_tools: Tools, tmp_path: Path
) -> None:
    """MySQL's default O_DIRECT would write the copy around the page cache, and the packer would
    read it all back from the disk (measured: 0 of 707 MB cached, 2.8-5.1 s to read it)."""
    (src,) = await mysqld_factory(1)
    async with await connect(src.endpoint()) as c:
        await ops.install_plugins(c)
        await ops.set_writable(c)
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(1000))")
        await c.execute("INSERT INTO app.t (v) VALUES (REPEAT(SHA2(RAND(), 256), 15))")
        for _ in range(14):  # 16384 rows of ~1 KB
            await c.execute("INSERT INTO app.t (v) SELECT REPEAT(SHA2(RAND(), 256), 15) FROM app.t")
    dest = tmp_path / "clone"
    phases = Phases()
    await clone_into(
        backup_tools, src.endpoint(), tmp_path / "scratch", dest, template=tmp_path / "tpl", phases=phases
    )
    table = dest / "app" / "t.ibd"
    assert table.stat().st_size > 16 * 1024 * 1024
    assert cached_fraction(table) > 0.9
    assert {"scratch_init", "scratch_start", "clone"} <= set(phases.seconds)
    assert all(v >= 0 for v in phases.seconds.values())
    assert not (tmp_path / "scratch" / "scratch-data").exists(), "the scratch server's own data is removed"
