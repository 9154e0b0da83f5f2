"""Fault injectors for the soak: each one a small class with ``inject`` and ``undo``.

An injector acts on a :class:`World` (the soak's cluster: the mysqld processes, the in-memory
Kubernetes side, the clustering loop) the way the real world would:

- :class:`KillMysqld`: SIGKILL (a crash); its Pod turns not ready; ``undo`` starts mysqld again
  on the same datadir, as kubelet restarts the container, and the Pod turns ready;
- :class:`PauseMysqld`: SIGSTOP (a hung server: connections open, nothing answers); the Pod
  turns not ready only if the readiness probe noticed (``mark_unready``); ``undo`` is SIGCONT;
- :class:`WipeMysqld`: the data volume is lost: SIGKILL, the Pod deleted, the datadir replaced
  by an empty initialized one (a new server_uuid); ``undo`` starts mysqld, creates the agent's
  users and recreates the Pod; the loop must clone it from the primary;
- :class:`LongTransaction`: a client transaction that wrote a row then runs ``SELECT SLEEP(n)``
  before COMMIT (a switchover must kill it to make the primary read-only); a row whose COMMIT
  returned is an acknowledged write and is recorded as such;
- :class:`ReadLock`: ``FLUSH TABLES WITH READ LOCK`` held for a while by a client;
- :class:`Demote`: the demote annotation on a Pod (a switchover request);
- :class:`CacheLag`: the loop's cache of the cluster and Pods lags by up to N seconds;
- :class:`LoopCrash`: the operator crashes: the clustering loop is cancelled wherever it is, or
  at its n-th write to the Kubernetes side; ``undo`` starts a new loop (nothing remembered from
  the old one), as a restarted operator.

Parameters (durations, which Pod, ...) are drawn by ``draw`` class methods from a seeded
``random.Random``, so the same seed yields the same faults. ``inject`` and ``undo`` are each
called once, in that order; ``undo`` is bounded in time.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.tasks import cancel_and_wait
from moco.testing.lagging import LaggingKube
from moco.testing.mysqld import Mysqld

#: The table the long transactions write to (in the checker's database).
LONG_TABLE = "app.soak_long"


class World(Protocol):
    """What injectors act on; the soak implements it."""

    lag: LaggingKube

    def instance(self, index: int) -> Mysqld:
        """The mysqld of a Pod ordinal."""
        ...

    def set_pod(self, index: int, **changes: object) -> None:
        """Change a Pod as Kubernetes would (ready, demote)."""
        ...

    def wake(self, origin: str) -> None:
        """Wake the loop, as a Pod event does."""
        ...

    def delete_pod(self, index: int) -> None:
        """Delete a Pod object (the loop no longer sees the instance)."""
        ...

    def recreate_pod(self, index: int) -> None:
        """Create the Pod again (ready, without a role label), as its StatefulSet does."""
        ...

    def client(self, index: int) -> Endpoint:
        """An application client's endpoint of an instance (may write the checker's database,
        holds RELOAD for FLUSH TABLES WITH READ LOCK; not one of the operator's users)."""
        ...

    async def reinitialize(self, index: int) -> None:
        """Replace an instance's (killed) datadir by an empty initialized one."""
        ...

    async def prepare(self, index: int) -> None:
        """What the agent does in a fresh Pod: create the operator's users, install plugins."""
        ...

    async def stop_loop(self) -> None:
        """Cancel the clustering loop at whatever point it is."""
        ...

    def start_loop(self) -> None:
        """Start a new clustering loop."""
        ...

    def acknowledge_long(self, row_id: int, index: int) -> None:
        """A long transaction's COMMIT returned: the row is an acknowledged write."""
        ...


@dataclass
class Fault:
    """One injector; subclasses set :attr:`kind` and override the hooks."""

    kind: ClassVar[str] = "fault"
    #: Pod ordinal acted on (None: the fault is not about one instance).
    index: int | None = None
    injected_at: float | None = field(default=None, init=False)
    undone_at: float | None = field(default=None, init=False)
    #: what happened, for the soak's report (an error of the injector itself, an outcome).
    note: str = field(default="", init=False)

    async def inject(self, w: World) -> None:
        self.injected_at = time.monotonic()
        await self._inject(w)

    async def undo(self, w: World) -> None:
        if self.undone_at is not None:
            return
        self.undone_at = time.monotonic()
        await self._undo(w)

    async def _inject(self, w: World) -> None:
        raise NotImplementedError

    async def _undo(self, w: World) -> None:
        return None

    def params(self) -> str:
        """The drawn parameters, for the timeline."""
        return ""


async def _restart(w: World, index: int) -> None:
    m = w.instance(index)
    m.start()
    await m.wait_ready(90)


@dataclass
class KillMysqld(Fault):
    """SIGKILL a mysqld; ``undo`` restarts it on the same datadir."""

    kind: ClassVar[str] = "kill"

    async def _inject(self, w: World) -> None:
        assert self.index is not None
        await asyncio.to_thread(w.instance(self.index).kill)
        w.set_pod(self.index, ready=False)
        w.wake("pod-not-ready")

    async def _undo(self, w: World) -> None:
        assert self.index is not None
        await _restart(w, self.index)
        w.set_pod(self.index, ready=True)
        w.wake("pod-ready")


@dataclass
class PauseMysqld(Fault):
    """SIGSTOP a mysqld (its Pod turns not ready when ``mark_unready``); ``undo`` is SIGCONT."""

    kind: ClassVar[str] = "pause"
    mark_unready: bool = True

    @classmethod
    def draw(cls, rng: random.Random, index: int | None = None) -> PauseMysqld:
        return cls(index=index, mark_unready=rng.random() < 0.6)

    def params(self) -> str:
        return f"probe_notices={self.mark_unready}"

    async def _inject(self, w: World) -> None:
        assert self.index is not None
        w.instance(self.index).pause()
        if self.mark_unready:
            w.set_pod(self.index, ready=False)
            w.wake("pod-not-ready")

    async def _undo(self, w: World) -> None:
        assert self.index is not None
        m = w.instance(self.index)
        m.resume()
        if not m.running:  # it died while stopped: kubelet restarts it
            await _restart(w, self.index)
        w.set_pod(self.index, ready=True)
        w.wake("pod-ready")


@dataclass
class WipeMysqld(Fault):
    """Lose an instance's data and its Pod; ``undo`` recreates both, empty (the loop must clone).

    The Pod is absent while the agent prepares the new mysqld (users, plugins), so the loop
    meets the instance only once it is prepared, as in a Pod where the agent initializes
    mysqld before it serves the network.
    """

    kind: ClassVar[str] = "wipe"

    async def _inject(self, w: World) -> None:
        assert self.index is not None
        await asyncio.to_thread(w.instance(self.index).kill)
        w.delete_pod(self.index)
        w.wake("pod-deleted")
        await w.reinitialize(self.index)

    async def _undo(self, w: World) -> None:
        assert self.index is not None
        try:
            await _restart(w, self.index)
            await w.prepare(self.index)
        finally:
            w.recreate_pod(self.index)
            w.wake("pod-created")


@dataclass
class _ClientFault(Fault):
    """A client session on an instance, with a background task that ends it."""

    _conn: Connection | None = field(default=None, init=False, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def _undo(self, w: World) -> None:
        task = self._task
        if task is not None:
            try:
                async with asyncio.timeout(15):
                    await asyncio.shield(task)
            except TimeoutError:
                await cancel_and_wait(task)
                self.note += " (ended by undo)"
        if self._conn is not None:
            await self._conn.close()


@dataclass
class LongTransaction(_ClientFault):
    """BEGIN; INSERT a row; SELECT SLEEP(seconds); COMMIT, on an instance (the primary)."""

    kind: ClassVar[str] = "long-trx"
    seconds: float = 5.0
    row_id: int = 0

    @classmethod
    def draw(cls, rng: random.Random, row_id: int, index: int | None = None) -> LongTransaction:
        return cls(index=index, seconds=round(rng.uniform(2.0, 8.0), 1), row_id=row_id)

    def params(self) -> str:
        return f"sleep={self.seconds}s row={self.row_id}"

    async def _inject(self, w: World) -> None:
        assert self.index is not None
        index = self.index
        try:
            c = await connect(w.client(index), timeout=2.0, query_timeout=self.seconds + 10)
            self._conn = c
            await c.execute("BEGIN")
            await c.execute(f"INSERT INTO {LONG_TABLE} (id, note) VALUES (%s, 'long-trx')", (self.row_id,))
        except MySQLError as e:
            self.note = f"not started: {e}"
            return

        async def finish() -> None:
            try:
                await c.query(f"SELECT SLEEP({self.seconds:.1f})")
                await c.execute("COMMIT")
            except MySQLError as e:
                self.note = f"not committed (outcome unknown): {type(e).__name__}"
                return
            self.note = "committed"
            w.acknowledge_long(self.row_id, index)

        self._task = asyncio.create_task(finish(), name=f"long-trx-{self.row_id}")


@dataclass
class ReadLock(_ClientFault):
    """FLUSH TABLES WITH READ LOCK held for ``seconds`` on an instance (the primary)."""

    kind: ClassVar[str] = "read-lock"
    seconds: float = 5.0

    @classmethod
    def draw(cls, rng: random.Random, index: int | None = None) -> ReadLock:
        return cls(index=index, seconds=round(rng.uniform(1.0, 8.0), 1))

    def params(self) -> str:
        return f"hold={self.seconds}s"

    async def _inject(self, w: World) -> None:
        assert self.index is not None
        try:
            c = await connect(w.client(self.index), timeout=2.0, query_timeout=10.0)
            self._conn = c
            await c.execute("FLUSH TABLES WITH READ LOCK")
        except MySQLError as e:
            self.note = f"not taken: {e}"
            return

        async def release() -> None:
            await asyncio.sleep(self.seconds)
            try:
                await c.execute("UNLOCK TABLES")
                self.note = "released"
            except MySQLError as e:
                self.note = f"session ended before release: {type(e).__name__}"

        self._task = asyncio.create_task(release(), name="read-lock")


@dataclass
class Demote(Fault):
    """The demote annotation on a Pod: a switchover request."""

    kind: ClassVar[str] = "demote"

    async def _inject(self, w: World) -> None:
        assert self.index is not None
        w.set_pod(self.index, demote=True)
        w.wake("demote")


@dataclass
class CacheLag(Fault):
    """The loop's cluster and Pod reads lag by up to ``seconds``."""

    kind: ClassVar[str] = "cache-lag"
    seconds: float = 2.0

    @classmethod
    def draw(cls, rng: random.Random, max_lag: float) -> CacheLag:
        return cls(seconds=round(rng.uniform(0.5, max_lag), 2))

    def params(self) -> str:
        return f"lag<={self.seconds}s"

    async def _inject(self, w: World) -> None:
        w.lag.set_lag(self.seconds)

    async def _undo(self, w: World) -> None:
        w.lag.set_lag(0.0)


@dataclass
class LoopCrash(Fault):
    """The operator crashes (the loop ends where it is); ``undo`` starts a new loop.

    With ``at_write = n > 0`` the crash happens at the loop's n-th write to the Kubernetes side
    after the injection (just ``before`` it lands or just after), so it falls inside a pass or
    an operation rather than while the loop sleeps; without a write within ``wait`` seconds the
    loop is cancelled where it is.
    """

    kind: ClassVar[str] = "loop-crash"
    at_write: int = 0
    before: bool = False
    wait: float = 5.0

    @classmethod
    def draw(cls, rng: random.Random) -> LoopCrash:
        at_write, before = rng.randint(1, 5), rng.random() < 0.5
        if rng.random() < 0.4:
            return cls()
        return cls(at_write=at_write, before=before)

    def params(self) -> str:
        if not self.at_write:
            return "at=once"
        return f"at_write={self.at_write} {'before' if self.before else 'after'}"

    async def _inject(self, w: World) -> None:
        if self.at_write:
            trap = w.lag.trap_write(self.at_write, before=self.before)
            try:
                async with asyncio.timeout(self.wait):
                    await trap.fired.wait()
                self.note = f"crashed {'before' if self.before else 'after'} {trap.fired_at}"
            except TimeoutError:
                w.lag.disarm()
                self.note = f"no write within {self.wait}s: cancelled where it was"
        await w.stop_loop()

    async def _undo(self, w: World) -> None:
        w.start_loop()
