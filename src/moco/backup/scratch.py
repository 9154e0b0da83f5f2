"""The Job's own scratch mysqld: the recipient of a backup's clone, the donor of a restore's.

A scratch server runs from a data directory in the work dir, listens on one TCP port, never
writes a binary log (``--disable-log-bin``: nothing it runs gets a GTID, so nothing it does can
reach a cluster as an errant transaction) and never starts replication. Its administrator is
``moco-admin`` with a password the caller chooses, set by an init file at every start, so the
same code serves an empty server (backup) and a server started on another cluster's copy
(restore, where the copy's own users are the source cluster's).

:class:`Tools` names the programs (``mysqld``, ``mysqlbinlog``, ``mysql``, ``mysqldump``): on
``PATH`` in the backup image; tests give the commands of the test ground's MySQL root.
Processes are stopped with SIGTERM (SIGKILL after a bound) when the context ends, whatever the
outcome; passwords only ever travel in files of mode 0600 that are removed after use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from moco.backup.errors import ToolFailed
from moco.constants import ADMIN_USER
from moco.log import get_logger
from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import MySQLError, SQLError

log = get_logger("moco.backup.scratch")

START_TIMEOUT: Final = 600.0
ER_FUNCTION_EXISTS: Final = 1125
STOP_TIMEOUT: Final = 120.0

#: How a throw-away server stores its data, each option chosen for a copy that is read once and
#: deleted (a crash of the scratch server fails the Job, which starts over from the source or
#: the bucket: nothing it writes has to survive one).
THROWAWAY_OPTIONS: Final = (
    # Buffered I/O instead of MySQL 8.4+'s O_DIRECT: the backup's copy is read again by the
    # packer right after CLONE wrote it, the restore's copy was just written by the unpacker, so
    # both are served from the page cache. Measured on 707 MB of cloned tablespaces: with
    # O_DIRECT none of it was cached and the packer's read took 2.8-5.1 s; buffered, all of it
    # was and the read took 0.3 s (CLONE's FILE SYNC stage then writes it back: +0.3-0.7 s).
    "--innodb-flush-method=fsync",
    # The doublewrite buffer protects pages from a torn write in a crash, after which the server
    # recovers; a crashed scratch server is never started again (every page it writes, recovery
    # of the restore's copy included, would otherwise be written twice).
    "--innodb-doublewrite=OFF",
    # A commit (the restore's user changes) is written to the redo files but not flushed: CLONE,
    # which copies the redo from the files, sees it at once (with 0 it could still be in the log
    # buffer); only a crash of the machine loses it, and the Job then starts over.
    "--innodb-flush-log-at-trx-commit=2",
    # Nothing reads it, and it costs start time and memory.
    "--performance-schema=OFF",
)


@dataclass(frozen=True)
class Tools:
    """Command prefixes of the MySQL programs (each may carry options, e.g. a loader)."""

    mysqld: tuple[str, ...] = ("mysqld", "--no-defaults")
    mysqlbinlog: tuple[str, ...] = ("mysqlbinlog",)
    mysql: tuple[str, ...] = ("mysql",)
    mysqldump: tuple[str, ...] = ("mysqldump",)
    #: extra environment of every program (e.g. TZ)
    env: tuple[tuple[str, str], ...] = field(default=())

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL_")}
        env.update(dict(self.env))
        env.update(extra)
        env["TZ"] = "UTC"
        return env


def free_port(host: str) -> int:
    """A TCP port free at the moment on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def write_secret_file(path: Path, text: str) -> Path:
    """Write ``text`` to a new file readable by its owner only."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def client_options_file(path: Path, user: str, password: str) -> Path:
    """A ``[client]`` option file for the mysql programs (``--defaults-extra-file``)."""
    esc = password.replace("\\", "\\\\").replace('"', '\\"')
    return write_secret_file(path, f'[client]\nuser="{user}"\npassword="{esc}"\n')


def _sql_string(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def admin_init_sql(password: str) -> str:
    """Statements that give the scratch server ``moco-admin`` with ``password`` (no binlog).

    ``PROXY ON ''@''`` with the grant option too: an instance's moco-admin holds it (granted by
    the root of ``--initialize``), and a restore recreates the target's moco-admin, grants
    included, on the scratch server as moco-admin; ``ALL`` does not hold PROXY, and without it
    that grant is refused (1698 "Access denied for user 'moco-admin'@...")."""
    u = _sql_string(ADMIN_USER)
    p = _sql_string(password)
    return (
        "SET SESSION sql_log_bin = 0;\n"
        f"CREATE USER IF NOT EXISTS {u}@'%' IDENTIFIED BY {p};\n"
        f"ALTER USER {u}@'%' IDENTIFIED BY {p} ACCOUNT UNLOCK;\n"
        f"GRANT ALL ON *.* TO {u}@'%' WITH GRANT OPTION;\n"
        f"GRANT PROXY ON ''@'' TO {u}@'%' WITH GRANT OPTION;\n"
    )


async def run_tool(argv: Sequence[str], *, env: dict[str, str], timeout: float, what: str) -> bytes:  # noqa: ASYNC109
    """Run a program to its end (bounded); its stdout, or :class:`ToolFailed` with its stderr."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise ToolFailed(f"{what} exited with {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return out


async def install_clone_plugin(conn: Connection) -> None:
    """The clone plugin, installed once (idempotent)."""
    row = await conn.query_one(
        "SELECT PLUGIN_STATUS AS s FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'clone'"
    )
    if row is None:
        try:
            await conn.execute("INSTALL PLUGIN clone SONAME 'mysql_clone.so'")
        except SQLError as e:
            if e.code != ER_FUNCTION_EXISTS:
                raise


class Scratch:
    """A running scratch mysqld (from :func:`scratch_mysqld`)."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        local: Endpoint,
        advertised: Endpoint,
        datadir: Path,
        error_log: Path,
    ) -> None:
        self.proc = proc
        #: how this process reaches the server
        self.endpoint = local
        #: how other servers reach it (a clone recipient)
        self.advertised = advertised
        self.datadir = datadir
        self.error_log = error_log

    def tail_log(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no error log)"

    async def kill(self) -> None:
        """SIGKILL (when the server's own data no longer matters). Idempotent."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:  # noqa: ASYNC109
        """Clean shutdown (SIGTERM); SIGKILL after ``timeout``. Idempotent."""
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                await self.proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def initialize(tools: Tools, datadir: Path, work: Path, *, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
    """``mysqld --initialize-insecure`` into ``datadir`` (which must not exist)."""
    os.makedirs(work, exist_ok=True)
    await run_tool(
        [
            *tools.mysqld,
            f"--datadir={datadir}",
            "--initialize-insecure",
            "--disable-log-bin",
            f"--log-error={work}/initialize.err",
        ],
        env=tools.environ(),
        timeout=timeout,
        what="mysqld --initialize-insecure",
    )


@contextlib.asynccontextmanager
async def scratch_mysqld(
    tools: Tools,
    datadir: Path,
    work: Path,
    *,
    password: str,
    bind: str = "127.0.0.1",
    advertise: str = "127.0.0.1",
    port: int = 0,
    extra_args: Sequence[str] = (),
    timeout: float = START_TIMEOUT,  # noqa: ASYNC109
) -> AsyncIterator[Scratch]:
    """Start mysqld on ``datadir``, wait until ``moco-admin`` can log in, stop it at the end."""
    os.makedirs(work / "tmp", exist_ok=True)
    init = write_secret_file(work / "scratch-init.sql", admin_init_sql(password))
    port = port or free_port(bind if bind != "0.0.0.0" else "127.0.0.1")
    error_log = work / "scratch.err"
    argv = [
        *tools.mysqld,
        f"--datadir={datadir}",
        f"--socket={work}/scratch.sock",
        f"--pid-file={work}/scratch.pid",
        f"--log-error={error_log}",
        f"--tmpdir={work}/tmp",
        f"--bind-address={bind}",
        f"--port={port}",
        "--mysqlx=OFF",
        "--server-id=4294967295",
        "--gtid-mode=ON",
        "--enforce-gtid-consistency=ON",
        "--disable-log-bin",
        "--skip-replica-start=ON",
        "--skip-name-resolve",
        "--read-only=OFF",
        "--secure-file-priv=",
        *THROWAWAY_OPTIONS,
        f"--init-file={init}",
        *extra_args,
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=tools.environ(),
        start_new_session=True,
    )
    any_address = bind in ("0.0.0.0", "::")
    local = Endpoint("127.0.0.1" if any_address else bind, port, ADMIN_USER, password)
    advertised = Endpoint(advertise if any_address else bind, port, ADMIN_USER, password)
    s = Scratch(proc, local, advertised, datadir, error_log)
    try:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            if proc.returncode is not None:
                raise ToolFailed(f"scratch mysqld exited ({proc.returncode}): {s.tail_log()}")
            try:
                async with await connect(local, timeout=2.0, query_timeout=30.0) as c:
                    await c.query("SELECT 1")
                    await install_clone_plugin(c)
                break
            except MySQLError as e:
                last = e
            if time.monotonic() > deadline:
                raise ToolFailed(f"scratch mysqld not ready within {timeout}s ({last}): {s.tail_log()}")
            await asyncio.sleep(0.1)
        init.unlink(missing_ok=True)
        log.info("scratch mysqld ready", port=port, datadir=str(datadir))
        yield s
    finally:
        init.unlink(missing_ok=True)
        await s.stop()


__all__ = [
    "THROWAWAY_OPTIONS",
    "Scratch",
    "Tools",
    "admin_init_sql",
    "client_options_file",
    "free_port",
    "initialize",
    "run_tool",
    "scratch_mysqld",
    "write_secret_file",
]
