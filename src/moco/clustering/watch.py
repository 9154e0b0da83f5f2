"""The primary watch: between passes, ask the primary ``SELECT 1`` every ``watch_interval`` s.

The loop's passes run on events and on a ticker of ``interval`` (30 s). Nothing in Kubernetes
reports a dead, frozen or cut-off machine quickly (the node controller marks its Pods not ready
after about 40 s), and a mysqld that is shutting down after ``kill 1`` keeps its container
running for as long as its shutdown takes. The watch notices from mysqld itself: it keeps one
connection to the primary the loop last saw writable and pings it; a failed ping wakes the loop
and counts as one try of the failover evidence (:mod:`moco.clustering.evidence`).

Rules:

1. The watch follows only a primary a pass saw writable (:meth:`PrimaryWatch.follow`); a
   failover or switchover makes it forget (:meth:`PrimaryWatch.forget`) until the next pass
   sees the new primary writable. It never acts on mysqld: it only reports.
2. A connection lost mid-ping is not reported: it is reconnected at once and the reconnect's
   outcome is (a lost connection says nothing about why; the reconnect is refused when mysqld
   is dead, times out when the machine is).
3. Each try (connect included) is bounded by ``watch_timeout``; tries are ``watch_interval``
   apart, so a silent primary costs one try per ``watch_interval + watch_timeout``. After an
   answer the watch waits *on the server* (``DO SLEEP(watch_interval)`` on its connection,
   bounded by ``watch_interval + watch_timeout``): a mysqld that ends meanwhile ends the
   connection at once (SIGKILL: the kernel closes its sockets; ``kill 1``: its shutdown closes
   its clients' connections), and the next try starts then instead of at the next ping (rule 2
   then reports the refused reconnect). A sleep that overruns its bound is a failed try (the
   machine is dead, frozen or cut off). The sleep holds no lock: it never delays read-only.
4. An answer is reported too, so that a blip shorter than the evidence's span starts it over.
5. While it follows a primary the watch keeps one more connection to it, authenticated and
   idle: the fence line, which a failover takes (:meth:`PrimaryWatch.take_line`) to send the
   old primary its fence before it can wake up (:mod:`moco.clustering.fenceline`). It is opened
   beside the pings after an answer (never delaying one) and again when the server closed it;
   the watch itself never sends anything on it. One line, not more: an idle TLS connection
   costs the operator about 300 KiB (measured: 307 KiB each for 150, 7 KiB without TLS), so a
   second would cost 300 MB at 1,000 clusters, for what the shot's own connect, made at the
   failover and completing as the server wakes, does a few milliseconds later.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from moco.clustering.config import ProcessConfig
from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import MySQLError, Timeout, Unreachable
from moco.tasks import cancel_and_wait

#: ``on_result(index, at, answered, refused)``: one try of the watch.
ResultCallback = Callable[[int, float, bool, bool], None]


@dataclass(frozen=True)
class Target:
    """The primary being watched."""

    index: int
    endpoint: Endpoint


class PrimaryWatch:
    """Pings one primary; reports every try to ``on_result``."""

    def __init__(
        self, cfg: ProcessConfig, on_result: ResultCallback, *, cluster: str, namespace: str
    ) -> None:
        self.cfg = cfg
        self.on_result = on_result
        self._target: Target | None = None
        self._changed = asyncio.Event()
        self._conn: Connection | None = None
        #: the fence line (rule 5) and the task that opens it
        self._line: Connection | None = None
        self._line_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.tries = 0
        self._name = f"watch:{namespace}/{cluster}"

    @property
    def target(self) -> Target | None:
        return self._target

    def follow(self, index: int, endpoint: Endpoint) -> None:
        """Watch primary ``index`` at ``endpoint`` (rule 1); idempotent."""
        t = Target(index, endpoint)
        if t != self._target:
            self._target = t
            self._changed.set()

    def forget(self) -> None:
        """Stop watching until :meth:`follow` names a primary again."""
        if self._target is not None:
            self._target = None
            self._changed.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)

    def take_line(self, index: int) -> Connection | None:
        """Hand over the fence line to primary ``index`` (rule 5): the caller owns (and closes)
        it from now on. None when none is open to it."""
        target, line = self._target, self._line
        if target is None or target.index != index or line is None:
            return None
        self._line = None
        if line.hung_up or line.endpoint != target.endpoint:
            line.abort()
        return None if line.closed else line

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        await self._drop()
        await self._drop_line()

    async def _drop_line(self) -> None:
        task, self._line_task = self._line_task, None
        if task is not None:
            await cancel_and_wait(task)
        line, self._line = self._line, None
        if line is not None:
            with contextlib.suppress(Exception):
                await line.close()

    def _keep_line(self, target: Target) -> None:
        """Open the fence line to ``target`` beside the pings unless it is open (rule 5)."""
        if self._line_task is not None and not self._line_task.done():
            return
        line = self._line
        if line is not None and line.endpoint == target.endpoint and not line.hung_up:
            return

        async def open_line() -> None:
            old, self._line = self._line, None
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.close()
            bound = self.cfg.watch_timeout
            if self._target != target:
                return
            with contextlib.suppress(MySQLError):
                self._line = await connect(target.endpoint, timeout=bound, query_timeout=bound)

        self._line_task = asyncio.create_task(open_line(), name=f"{self._name}:line")

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _run(self) -> None:
        while True:
            target = self._target
            if target is None:
                await self._drop()
                await self._drop_line()
                await self._changed.wait()
                self._changed.clear()
                continue
            self._changed.clear()
            answered, refused = await self._try(target)
            self._report(target, answered, refused)
            if answered:
                self._keep_line(target)
            if not await self._wait():
                self._report(target, False, False)

    def _report(self, target: Target, answered: bool, refused: bool) -> None:
        self.tries += 1
        if self._target == target:  # a report about a primary no longer followed is stale
            self.on_result(target.index, time.monotonic(), answered, refused)

    async def _wait(self) -> bool:
        """Wait ``watch_interval`` or until the target changes (rule 3): as a sleep on the server
        while connected, else here. False when the sleep overran its bound (a failed try)."""
        conn, interval = self._conn, self.cfg.watch_interval
        if conn is None or conn.closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._changed.wait()
            return True
        sleep = asyncio.ensure_future(
            conn.execute(f"DO SLEEP({interval:.3f})", timeout=interval + self.cfg.watch_timeout)
        )
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleep, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            if not sleep.done():  # the target changed (or the watch stops): the connection goes
                await cancel_and_wait(sleep)
                await self._drop()
        if sleep.cancelled():
            return True
        try:
            sleep.result()
        except Timeout:
            await self._drop()
            return False
        except MySQLError:  # the connection ended (rule 2: the next try reconnects at once)
            await self._drop()
        return True

    async def _try(self, target: Target) -> tuple[bool, bool]:
        """One ping: (answered, refused). A server that answers with an error is alive."""
        if self._conn is not None and self._conn.endpoint != target.endpoint:
            await self._drop()
        if self._line is not None and self._line.endpoint != target.endpoint:
            await self._drop_line()
        bound = self.cfg.watch_timeout
        for _ in range(2):  # rule 2: one reconnect after a lost connection
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await connect(target.endpoint, timeout=bound, query_timeout=bound)
                await self._conn.query_one("SELECT 1")
                return True, False
            except Unreachable as e:
                await self._drop()
                if e.refused:
                    return False, True
            except Timeout:
                await self._drop()
                return False, False
            except MySQLError:  # access denied, a server error: it answered
                await self._drop()
                return True, False
        return False, False
