"""Real mysqld 9.x instances on loopback, for tests and benchmarks.

The binaries come from the Debian sid root that ``make mysql-root`` builds (its path is in
``$MOCO_CACHE/mysql-root.current``). They need sid's glibc, newer than the host's, so mysqld is
run through the root's own dynamic loader, without chroot::

    ROOT/lib64/ld-linux-x86-64.so.2 --library-path ROOT/usr/lib/x86_64-linux-gnu:ROOT/lib/x86_64-linux-gnu \\
        ROOT/usr/sbin/mysqld --basedir=ROOT/usr --plugin-dir=ROOT/usr/lib/mysql/plugin ...

The loader's library path also serves the plugins mysqld dlopen()s (semisync, clone), so
datadirs, sockets and logs can live anywhere (here under one temporary directory per
:class:`MysqldGround`), nothing is mounted, and no chroot has to be cleaned.

Layout and life cycle:

- One *template* datadir per root version is initialized once (``--initialize-insecure``, binary
  log off, so its gtid_executed is empty) with the ground's admin user ``'moco-admin'@'%'`` and
  cached under ``$MOCO_CACHE/mysqld-template/<version>-<recipe hash>``. Every instance gets a copy without
  ``auto.cnf``, so every instance has its own server_uuid.
- Each instance has its own port, admin port, server_id, datadir and socket, and starts with the
  options the operator gives mysqld (GTIDs, ROW binlog, log_replica_updates, report_host/port,
  super_read_only, skip_replica_start, skip_name_resolve, small memory). Plugins are *not*
  loaded: :func:`moco.mysql.ops.install_plugins` does that.
- Each instance is supervised by default: mysqld is started with ``MYSQLD_PARENT_PID`` set to
  this process, so RESTART and CLONE may ask for a restart by exiting with status 16, and a
  watcher thread then starts it again on the same datadir. Any other exit is final until
  :meth:`Mysqld.start`. ``supervised=False`` runs mysqld as in a Pod: no ``MYSQLD_PARENT_PID``
  (RESTART and CLONE then fail with error 3707 and mysqld shuts down) and nobody restarts it;
  the test restarts it with :meth:`Mysqld.start`, or :class:`Kubelet` does, as kubelet restarts
  the container.
- Every mysqld is started through :func:`moco.testing.ground.spawn` (PID + start time in the
  registry) and stopped by PID; the ground's directory is recorded with ``record_dir``.
  :meth:`MysqldGround.close` stops everything; ``make clean-ground`` is the backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from moco.constants import ADMIN_USER
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.tasks import cancel_and_wait
from moco.testing import ground

ADMIN_PASSWORD: Final = "moco-ground-admin"
HOST: Final = "127.0.0.1"
RESTART_EXIT_CODE: Final = 16

_INIT_SQL: Final = f"""\
CREATE USER '{ADMIN_USER}'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}';
GRANT ALL ON *.* TO '{ADMIN_USER}'@'%' WITH GRANT OPTION;
"""

#: Options common to --initialize and to every start (sizes must agree between both).
_SIZES: Final = (
    "--innodb-buffer-pool-size=32M",
    "--innodb-redo-log-capacity=8M",
    "--innodb-log-buffer-size=4M",
)


class MysqlRootMissing(RuntimeError):
    """The MySQL root is not built: run ``make mysql-root``."""


def find_root() -> Path:
    """The current MySQL root (from ``$MOCO_CACHE/mysql-root.current``)."""
    stamp = ground.cache_dir() / "mysql-root.current"
    try:
        root = Path(stamp.read_text().strip())
    except OSError:
        raise MysqlRootMissing(f"{stamp} is missing: run `make mysql-root`") from None
    if not (root / "usr/sbin/mysqld").exists():
        raise MysqlRootMissing(f"{root} has no usr/sbin/mysqld: run `make mysql-root`")
    return root


def mysqld_argv(root: Path) -> list[str]:
    """The command that runs the root's mysqld on this host, with the root's paths."""
    return [
        str(root / "lib64/ld-linux-x86-64.so.2"),
        "--library-path",
        f"{root}/usr/lib/x86_64-linux-gnu:{root}/lib/x86_64-linux-gnu",
        str(root / "usr/sbin/mysqld"),
        "--no-defaults",
        f"--basedir={root}/usr",
        f"--plugin-dir={root}/usr/lib/mysql/plugin",
        f"--lc-messages-dir={root}/usr/share/mysql",
        f"--character-sets-dir={root}/usr/share/mysql/charsets",
        "--user=root",
    ]


def _free_port(taken: set[int]) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port not in taken:
            taken.add(port)
            return port
    raise RuntimeError("no free port")


def ensure_template(root: Path) -> Path:
    """The initialized template datadir for ``root`` (built once, cached, atomically renamed)."""
    base = ground.cache_dir() / "mysqld-template"
    recipe = hashlib.sha256("\n".join([_INIT_SQL, *_SIZES]).encode()).hexdigest()[:8]
    dest = base / f"{root.name}-{recipe}"
    if (dest / "mysql.ibd").exists():
        return dest
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".init-", dir=base))
    try:
        (work / "init.sql").write_text(_INIT_SQL)
        argv = [
            *mysqld_argv(root),
            f"--datadir={work}/data",
            *_SIZES,
            "--initialize-insecure",
            "--disable-log-bin",
            f"--init-file={work}/init.sql",
            f"--log-error={work}/init.err",
        ]
        proc = subprocess.run(argv, capture_output=True, timeout=300, check=False)
        if proc.returncode != 0:
            err = (work / "init.err").read_text() if (work / "init.err").exists() else proc.stderr.decode()
            raise RuntimeError(f"mysqld --initialize-insecure failed ({proc.returncode}): {err[-2000:]}")
        (work / "data/auto.cnf").unlink(missing_ok=True)
        try:
            (work / "data").rename(dest)
        except OSError:
            if not (dest / "mysql.ibd").exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


class Mysqld:
    """One mysqld (supervised unless ``supervised=False``); get it from :meth:`MysqldGround.new_instance`."""

    def __init__(
        self,
        *,
        name: str,
        root: Path,
        home: Path,
        port: int,
        admin_port: int,
        server_id: int,
        extra_args: Sequence[str] = (),
        supervised: bool = True,
    ) -> None:
        self.name = name
        self.root = root
        self.home = home
        self.host = HOST
        self.port = port
        self.admin_port = admin_port
        self.server_id = server_id
        self.user = ADMIN_USER
        self.password = ADMIN_PASSWORD
        self.extra_args = tuple(extra_args)
        self.supervised = supervised
        #: a command prefix that runs mysqld elsewhere (a network namespace:
        #: :attr:`moco.testing.hostnet.HostNet.enter`); it must exec mysqld (the PID stays)
        self.prefix: tuple[str, ...] = ()
        self.restarts = 0  # how many exit-16 restarts the supervisor performed
        self.last_exit: int | None = None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._rec: ground.Recorded | None = None
        self._wanted = False
        self._watcher: threading.Thread | None = None

    # --- facts ----------------------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def socket(self) -> Path:
        return self.home / "mysqld.sock"

    @property
    def error_log(self) -> Path:
        return self.home / "mysqld.err"

    @property
    def pid(self) -> int | None:
        """PID of the running mysqld (None when not running)."""
        with self._lock:
            return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def endpoint(self, user: str | None = None, password: str | None = None) -> Endpoint:
        """Endpoint of the SQL port, as the admin user unless told otherwise."""
        return Endpoint(
            self.host,
            self.port,
            user or self.user,
            self.password if password is None else password,
        )

    def admin_endpoint(self) -> Endpoint:
        """Endpoint of the admin port (admin_address/admin_port), as the admin user."""
        return Endpoint(self.host, self.admin_port, self.user, self.password)

    def argv(self) -> list[str]:
        return [
            *mysqld_argv(self.root),
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--pid-file={self.home}/mysqld.pid",
            f"--log-error={self.error_log}",
            f"--tmpdir={self.home}/tmp",
            f"--bind-address={self.host}",
            f"--port={self.port}",
            "--mysqlx=OFF",
            f"--admin-address={self.host}",
            f"--admin-port={self.admin_port}",
            f"--server-id={self.server_id}",
            "--gtid-mode=ON",
            "--enforce-gtid-consistency=ON",
            "--binlog-format=ROW",
            "--log-replica-updates=ON",
            f"--report-host={self.host}",
            f"--report-port={self.port}",
            "--super-read-only=ON",
            "--skip-replica-start=ON",
            "--skip-name-resolve",
            "--secure-file-priv=",
            *_SIZES,
            "--innodb-flush-log-at-trx-commit=2",
            "--sync-binlog=0",
            "--max-connections=200",
            "--table-open-cache=400",
            "--performance-schema=ON",
            *self.extra_args,
        ]

    # --- life cycle -----------------------------------------------------------------------------
    def _spawn_locked(self) -> None:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TZ": "UTC"}
        if self.supervised:
            env["MYSQLD_PARENT_PID"] = str(os.getpid())
        proc, rec = ground.spawn(
            [*self.prefix, *self.argv()],
            f"mysqld {self.name} :{self.port}",
            log=self.home / "stdout.log",
            env=env,
        )
        self._proc, self._rec = proc, rec

    def start(self) -> None:
        """Start mysqld on the existing datadir (no-op when running); see :meth:`wait_ready`."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            (self.home / "tmp").mkdir(parents=True, exist_ok=True)
            self._wanted = True
            self._spawn_locked()
            self._watcher = threading.Thread(target=self._watch, name=f"mysqld-{self.name}", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while True:
            with self._lock:
                proc, rec = self._proc, self._rec
            if proc is None or rec is None:
                return
            rc = proc.wait()
            with self._lock:
                if self._proc is not proc:
                    return
                ground.forget(rec)
                self.last_exit = rc
                if rc == RESTART_EXIT_CODE and self._wanted and self.supervised:
                    self.restarts += 1
                    self._spawn_locked()
                    continue
                self._wanted = False
                return

    def _halt(self, how: signal.Signals | None, timeout: float) -> None:
        with self._lock:
            self._wanted = False
            proc, rec = self._proc, self._rec
            watcher = self._watcher
        if proc is None or rec is None:
            return
        if how is None:
            ground.stop(rec, proc, timeout=timeout)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                os.kill(proc.pid, how)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
            ground.forget(rec)
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=5)

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown (SIGTERM), SIGKILL after ``timeout``; the datadir is kept."""
        self._halt(None, timeout)

    def kill(self) -> None:
        """SIGKILL: a crash; the datadir is kept (InnoDB recovers on the next start)."""
        self._halt(signal.SIGKILL, 10.0)

    def pause(self) -> None:
        """SIGSTOP: the server hangs, connections stay open but nothing answers."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    def restart(self, timeout: float = 30.0) -> None:
        """Clean stop then start on the same datadir."""
        self.stop(timeout)
        self.start()

    async def wait_ready(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until the admin user can connect and run a query; raises TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self._wanted and not self.running:
                raise RuntimeError(f"mysqld {self.name} exited ({self.last_exit}): {self.tail_log()}")
            try:
                left = max(deadline - time.monotonic(), 0.1)
                async with await connect(
                    self.endpoint(), timeout=min(left, 2.0), query_timeout=min(left, 5.0)
                ) as c:
                    row = await c.query_one("SELECT @@datadir AS d")
                # the port may belong to another server if it was taken between pick and bind
                if row is not None and Path(str(row["d"])) == self.datadir:
                    return
            except MySQLError as e:
                last = e
            await asyncio.sleep(0.1)
        raise TimeoutError(f"mysqld {self.name} not ready within {timeout}s ({last}): {self.tail_log()}")

    async def astop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """:meth:`stop` without blocking the event loop."""
        await asyncio.to_thread(self.stop, timeout)

    async def arestart(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """:meth:`restart` then :meth:`wait_ready`, without blocking the event loop."""
        await asyncio.to_thread(self.stop)
        self.start()
        await self.wait_ready(timeout)

    def tail_log(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no error log)"

    def destroy(self) -> None:
        """SIGKILL and remove the instance's directory."""
        self.kill()
        shutil.rmtree(self.home, ignore_errors=True)

    def __repr__(self) -> str:
        return f"Mysqld({self.name}, {self.host}:{self.port}, server_id={self.server_id})"


class Kubelet:
    """Starts an unsupervised :class:`Mysqld` again whenever it has exited, after ``delay`` s.

    What kubelet does to the mysqld container of a Pod (restartPolicy Always). Use as an async
    context manager; ``restarts`` counts the starts it made.
    """

    def __init__(self, m: Mysqld, delay: float = 1.0, poll: float = 0.1) -> None:
        self.m = m
        self.delay = delay
        self.poll = poll
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            if not self.m.running:
                await asyncio.sleep(self.delay)
                self.restarts += 1
                self.m.start()

    async def __aenter__(self) -> Kubelet:
        self._task = asyncio.create_task(self._run(), name=f"kubelet-{self.m.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)


class MysqldGround:
    """A temporary directory of supervised mysqld instances; :meth:`close` stops them all."""

    def __init__(self, root: Path | None = None, base: Path | None = None) -> None:
        self.root = root or find_root()
        self.template = ensure_template(self.root)
        self.base = base or Path(tempfile.mkdtemp(prefix="moco-mysqld-", dir="/tmp"))
        ground.record_dir(self.base)
        self.instances: list[Mysqld] = []
        self._ports: set[int] = set()
        self._next_id = 1
        self._lock = threading.Lock()

    def new_instance(
        self,
        *,
        start: bool = True,
        extra_args: Sequence[str] = (),
        empty: bool = False,
        supervised: bool = True,
    ) -> Mysqld:
        """A fresh instance (copy of the template, its own uuid); started unless ``start=False``.

        ``empty=True`` leaves the datadir absent (for a caller that initializes it itself);
        ``supervised=False``: see :class:`Mysqld` (no restart on exit 16).
        """
        with self._lock:
            n = self._next_id
            self._next_id += 1
            port, admin_port = _free_port(self._ports), _free_port(self._ports)
        name = f"m{n}"
        home = self.base / name
        home.mkdir(parents=True)
        if not empty:
            subprocess.run(["cp", "-a", "--reflink=auto", str(self.template), str(home / "data")], check=True)
            (home / "data/auto.cnf").unlink(missing_ok=True)
        m = Mysqld(
            name=name,
            root=self.root,
            home=home,
            port=port,
            admin_port=admin_port,
            server_id=100 + n,
            extra_args=extra_args,
            supervised=supervised,
        )
        with self._lock:
            self.instances.append(m)
        if start:
            m.start()
        return m

    async def start_instances(
        self,
        n: int,
        *,
        extra_args: Sequence[str] = (),
        timeout: float = 60.0,  # noqa: ASYNC109
        supervised: bool = True,
    ) -> list[Mysqld]:
        """``n`` fresh instances, started and ready (new ports are picked if one was taken meanwhile)."""
        ms = [self.new_instance(extra_args=extra_args, supervised=supervised) for _ in range(n)]
        await asyncio.gather(*(self.ready(m, timeout) for m in ms))
        return ms

    async def ready(self, m: Mysqld, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """:meth:`Mysqld.wait_ready`; if its port was taken before mysqld bound it, use new ports."""
        for attempt in range(3):
            try:
                await m.wait_ready(timeout)
                return
            except RuntimeError:
                if attempt == 2 or "Address already in use" not in m.tail_log(40):
                    raise
            with self._lock:
                m.port, m.admin_port = _free_port(self._ports), _free_port(self._ports)
            m.start()

    def wipe(self, m: Mysqld) -> None:
        """Kill an instance and give it an empty datadir (a template copy: no data, a new
        server_uuid), as a lost volume would; :meth:`Mysqld.start` brings it up on the same ports."""
        m.kill()
        shutil.rmtree(m.datadir, ignore_errors=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(self.template), str(m.datadir)], check=True)
        (m.datadir / "auto.cnf").unlink(missing_ok=True)

    def discard(self, m: Mysqld) -> None:
        """Kill an instance and remove its directory."""
        m.destroy()
        with self._lock:
            if m in self.instances:
                self.instances.remove(m)

    def live_records(self) -> list[ground.Recorded]:
        """Registry entries of this ground's mysqld processes that are still alive."""
        names = {f"mysqld {m.name} :{m.port}" for m in self.instances}
        return [r for r in ground.recorded() if r.what in names and r.alive()]

    def close(self) -> None:
        """Stop every instance (SIGKILL: the data is thrown away) and remove the directory."""
        for m in list(self.instances):
            m.kill()
        leftover = self.live_records()
        shutil.rmtree(self.base, ignore_errors=True)
        ground.forget_dir(self.base)
        if leftover:
            raise RuntimeError(f"mysqld processes still alive after close: {leftover}")
