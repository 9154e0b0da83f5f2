"""A whole restore straight into the target's data directory: one copy, one mysqld start.

The restore by CLONE (:mod:`moco.backup.restore`) lands the copy twice and starts two servers:
unpacked into a scratch server's directory, started there, cloned into the target, the target
restarted. Where the restore program may stop and start the target's mysqld itself (a
:class:`LocalTarget`: the benchmark, a host-managed server, an init step that runs before an
instance's mysqld), the copy is unpacked once, beside the target's data directory, swapped in
while the target is stopped, and the target starts on it.

Rules, in the order a restore meets them:

1. **The target is touched last.** The copy is downloaded and unpacked into a staging directory
   while the target still runs on its own data; a corrupted object (zstd's frame checksums), a
   refused credential or a full disk fails the restore with the target as it was.
2. **The carried users are the target's.** The copy holds the *source's* ``mysql.*``. Before the
   target is stopped, moco's users are read from it (authentication strings as hex, grants:
   :func:`user_statements`; no password needed) and saved in the state directory; the target
   starts on the copy with an ``--init-file`` that recreates them (:func:`init_sql`, not
   binlogged), so the Job logs in with the target's own moco-admin password as before.
3. **A restore interrupted at any point is restored again by running it again.** The state
   directory ``.moco-restore.<datadir>`` beside the data directory holds the saved users from
   the moment before the target is stopped until the restored server is up and synced. Its
   presence tells a second run that the target's data may already be (partly) replaced: the
   users are then read from it, never from a target that may run on a half-restored copy.
4. **The target keeps its identity.** ``auto.cnf`` (``server_uuid``) and ``mysqld-auto.cnf``
   (``SET PERSIST``) of the target's own data directory survive the swap (:data:`KEPT_FILES`);
   everything else of it, binlogs included, is replaced: the target's GTID set is the copy's, as
   after a CLONE.
5. **Durable before done.** The swapped-in files are flushed to the disk (:func:`flush_tree`)
   while the target starts; the state directory is removed only after both, so a crash in
   between restores again rather than leaving a copy that lives only in the page cache.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, Protocol

from moco import constants
from moco.backup.errors import BackupError
from moco.backup.scratch import write_secret_file
from moco.mysql.conn import Connection

#: Files of the target's own data directory kept across the swap (rule 4).
KEPT_FILES: Final = ("auto.cnf", "mysqld-auto.cnf")
#: The state directory's name beside the data directory ``<name>`` (rule 3).
STATE_PREFIX: Final = ".moco-restore."
#: The saved users, inside the state directory: its presence is the marker of rule 3.
USERS_FILE: Final = "users.sql"


class LocalTarget(Protocol):
    """The target's mysqld as an in-place restore drives it.

    ``stop`` ends the server and returns once it has exited (a stopped server: no-op); its data
    is replaced next, so a SIGKILL serves as well as a clean shutdown and takes no flush;
    ``start`` starts it on :attr:`datadir` with ``--init-file=init_file`` added to its options and
    returns once the process runs (the restore waits for it to accept moco-admin)."""

    @property
    def datadir(self) -> Path: ...

    async def stop(self) -> None: ...

    async def start(self, init_file: Path) -> None: ...


def state_dir(datadir: Path) -> Path:
    """The state directory of an in-place restore into ``datadir`` (rule 3; pure)."""
    return datadir.parent / f"{STATE_PREFIX}{datadir.name}"


async def user_statements(target: Connection) -> list[str]:
    """moco's users of ``target`` as statements that recreate them elsewhere (rule 2).

    Each present account ``<user>@'%'`` of :data:`moco.constants.ALL_USERS` gives ``DROP USER IF
    EXISTS``, its ``SHOW CREATE USER`` (the authentication string as hex) and its ``SHOW
    GRANTS``. Every statement is one line, as an init file needs.
    """
    await target.execute("SET SESSION print_identified_with_as_hex = ON")
    rows = await target.query("SELECT User AS u FROM mysql.user WHERE Host = '%'")
    present = {str(r["u"]) for r in rows}
    out: list[str] = []
    for user in constants.ALL_USERS:
        if user not in present:
            continue
        create = await target.query_one("SHOW CREATE USER %s@'%%'", (user,))
        if create is None:
            continue
        grants = await target.query("SHOW GRANTS FOR %s@'%%'", (user,))
        out.append(f"DROP USER IF EXISTS {_quote(user)}@'%'")
        out.append(str(next(iter(create.values()))))
        out.extend(str(next(iter(g.values()))) for g in grants)
    for s in out:
        if "\n" in s or "\r" in s:
            raise BackupError(f"a statement of the target's users spans lines: {s[:60]}...")
    if constants.ADMIN_USER not in present:
        raise BackupError(
            f"the target has no {constants.ADMIN_USER}@'%': it is not an initialised moco instance "
            f"(wait for its agent to initialise it, then restore again)"
        )
    return out


def _quote(user: str) -> str:
    return "'" + user.replace("\\", "\\\\").replace("'", "\\'") + "'"


def init_sql(statements: Sequence[str]) -> str:
    """The init file the target first starts with on the copy (pure).

    Not binlogged (no GTID of the restore's own reaches the target's set), ``super_read_only``
    lifted for the statements and set again after them, the copy's replication configuration
    (the source cluster's) dropped.
    """
    lines = [
        "SET SESSION sql_log_bin = 0;",
        "SET GLOBAL super_read_only = OFF;",
        *(s.rstrip(";") + ";" for s in statements),
        "RESET REPLICA ALL;",
        "SET GLOBAL super_read_only = ON;",
    ]
    return "\n".join(lines) + "\n"


def save_users(state: Path, statements: Sequence[str]) -> None:
    """Write the saved users atomically (mode 0600): from then on the marker of rule 3 is set."""
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = state / f".{USERS_FILE}.tmp"
    write_secret_file(tmp, "\n".join(statements) + "\n")
    _fsync_file(tmp)
    tmp.rename(state / USERS_FILE)
    _fsync_dir(state)


def load_users(state: Path) -> list[str] | None:
    """The saved users, or None when no restore was interrupted after saving them."""
    try:
        text = (state / USERS_FILE).read_text()
    except FileNotFoundError:
        return None
    return [line for line in text.splitlines() if line.strip()]


def swap_datadir(staged: Path, datadir: Path, state: Path) -> None:
    """Replace ``datadir`` by ``staged`` (the unpacked copy), keeping :data:`KEPT_FILES` (rule 4).

    The target must be stopped. The kept files are copied into ``state/kept`` first (once: a
    second run after an interruption finds them there, whatever is left of ``datadir``), so
    every step can be interrupted and run again.
    """
    kept = state / "kept"
    if not kept.is_dir():
        tmp = state / ".kept.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        for name in KEPT_FILES:
            with contextlib.suppress(FileNotFoundError):
                shutil.copy2(datadir / name, tmp / name)
        tmp.rename(kept)
    shutil.rmtree(datadir, ignore_errors=True)
    if datadir.exists():
        raise BackupError(f"{datadir}: cannot remove the target's old data directory")
    for f in kept.iterdir():
        shutil.copy2(f, staged / f.name)
    staged.rename(datadir)
    _fsync_dir(datadir.parent)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flush_tree(root: Path, *, threads: int = 4) -> int:
    """fsync every file and directory under ``root`` (rule 5); returns how many.

    Only the copy's own files: a ``syncfs`` would also wait for whatever else is dirty on a
    file system the restore shares (a busy node's other volumes' writes). Several at once, so
    the disk's queue is kept full.
    """
    paths = [root, *(p for p in root.rglob("*") if not p.is_symlink())]
    with ThreadPoolExecutor(max_workers=max(threads, 1), thread_name_prefix="flush") as pool:
        list(pool.map(_fsync_any, paths))
    return len(paths)


def _fsync_any(path: Path) -> None:
    if path.is_dir():
        _fsync_dir(path)
    else:
        _fsync_file(path)


__all__ = [
    "KEPT_FILES",
    "STATE_PREFIX",
    "LocalTarget",
    "flush_tree",
    "init_sql",
    "load_users",
    "save_users",
    "state_dir",
    "swap_datadir",
    "user_statements",
]
