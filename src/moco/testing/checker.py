"""The acknowledged-writes checker: nothing a primary acknowledged may be lost.

:class:`WriteChecker` writes sequence-numbered rows, one at a time, through whichever instance
is the primary (it asks a callable for the primary's endpoint before every write), and records
every write the server acknowledged (the INSERT returned) with the ``server_uuid`` of the server
that took it and the time. A write whose outcome is unknown (error, timeout, connection lost)
is not counted: it may or may not be there, both are correct.

Optionally a sampler asks every instance for ``@@read_only`` many times a second; two instances
seen writable in the same round is a split brain.

:meth:`WriteChecker.verify` then reads the rows on an instance (the new primary after a
switchover or failover) and reports every acknowledged row that is missing, every sampled
moment with two writable instances. :meth:`WriteChecker.gaps` gives
the write unavailability of each primary change: from the last acknowledged write on the old
primary to the first on the new one.

No dependency on pytest: the e2e suite and the benchmark use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import MySQLError

DATABASE = "app"
TABLE = "moco_checker"


@dataclass(frozen=True)
class Ack:
    """One acknowledged write."""

    seq: int
    server_uuid: str
    sent: float
    acked: float


@dataclass(frozen=True)
class Gap:
    """Writes were impossible from the last ack on ``old`` to the first ack on ``new``."""

    old: str
    new: str
    last_old: float
    first_new: float

    @property
    def seconds(self) -> float:
        return self.first_new - self.last_old


@dataclass(frozen=True)
class Report:
    """What :meth:`WriteChecker.verify` found."""

    acknowledged: int
    missing: tuple[int, ...]
    split_brain: tuple[tuple[float, tuple[str, ...]], ...]
    errors: int

    @property
    def ok(self) -> bool:
        """Nothing lost and never two writable instances."""
        return not self.missing and not self.split_brain

    def describe(self) -> str:
        """A one-line summary for assertion messages."""
        return (
            f"acknowledged={self.acknowledged} missing={list(self.missing)[:20]} "
            f"split_brain={list(self.split_brain)[:5]} "
            f"errors={self.errors}"
        )


@dataclass
class WriteChecker:
    """Continuous sequence-numbered writes through the current primary."""

    primary: Callable[[], Endpoint]
    #: admin endpoints of every instance, for the read_only sampler (None: no sampling).
    instances: Callable[[], Sequence[Endpoint]] | None = None
    pause: float = 0.002
    connect_timeout: float = 1.0
    write_timeout: float = 3.0
    sample_interval: float = 0.02
    acks: list[Ack] = field(default_factory=list)
    errors: int = 0
    #: sampling rounds done (each asks every instance once).
    samples: int = 0
    split_brain: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)
    _seq: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    # --- set-up and life cycle ---------------------------------------------------------------------
    async def setup(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Create the table through the primary (retrying until it is writable)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                async with await connect(self.primary(), timeout=self.connect_timeout) as c:
                    await c.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
                    await c.execute(
                        f"CREATE TABLE IF NOT EXISTS {DATABASE}.{TABLE} ("
                        " seq BIGINT PRIMARY KEY, server_uuid CHAR(36) NOT NULL,"
                        " at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))"
                    )
                return
            except MySQLError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def start(self) -> None:
        """Start writing (and sampling)."""
        self._stop.clear()
        self._tasks.append(asyncio.create_task(self._write_loop(), name="checker-writer"))
        if self.instances is not None:
            self._tasks.append(asyncio.create_task(self._sample_loop(), name="checker-sampler"))

    async def stop(self) -> None:
        """Stop writing; waits for the write in flight."""
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def __aenter__(self) -> WriteChecker:
        await self.setup()
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- the loops ---------------------------------------------------------------------------------
    async def _write_loop(self) -> None:
        conn: Connection | None = None
        uuid = ""
        try:
            while not self._stop.is_set():
                ep = self.primary()
                try:
                    if conn is None or conn.closed or conn.endpoint != ep:
                        if conn is not None:
                            await conn.close()
                        conn = None
                        conn = await connect(
                            ep, timeout=self.connect_timeout, query_timeout=self.write_timeout
                        )
                        row = await conn.query_one("SELECT @@server_uuid AS u")
                        uuid = str(row["u"]) if row else ""
                    self._seq += 1
                    seq = self._seq
                    sent = time.monotonic()
                    await conn.execute(
                        f"INSERT INTO {DATABASE}.{TABLE} (seq, server_uuid) VALUES (%s, %s)", (seq, uuid)
                    )
                    self.acks.append(Ack(seq, uuid, sent, time.monotonic()))
                except MySQLError:
                    self.errors += 1
                    if conn is not None:
                        await conn.close()
                        conn = None
                    await asyncio.sleep(0.01)
                    continue
                if self.pause:
                    await asyncio.sleep(self.pause)
        finally:
            if conn is not None:
                await conn.close()

    async def _sample_loop(self) -> None:
        assert self.instances is not None
        conns: dict[Endpoint, Connection] = {}

        async def read_only(ep: Endpoint) -> tuple[str, bool] | None:
            try:
                c = conns.get(ep)
                if c is None or c.closed:
                    c = await connect(ep, timeout=self.connect_timeout, query_timeout=1.0)
                    conns[ep] = c
                row = await c.query_one("SELECT @@server_uuid AS u, @@read_only AS ro")
                return (str(row["u"]), bool(int(row["ro"]))) if row else None
            except MySQLError:
                conns.pop(ep, None)
                return None

        try:
            while not self._stop.is_set():
                eps = list(self.instances())
                t = time.monotonic()
                seen = await asyncio.gather(*(read_only(ep) for ep in eps))
                writable = tuple(sorted(u for s in seen if s is not None for u in [s[0]] if not s[1]))
                self.samples += 1
                if len(writable) > 1:
                    self.split_brain.append((t, writable))
                await asyncio.sleep(self.sample_interval)
        finally:
            for c in conns.values():
                await c.close()

    # --- results -----------------------------------------------------------------------------------
    def gaps(self) -> list[Gap]:
        """Each change of the server taking writes, with its unavailability."""
        out = []
        for prev, cur in zip(self.acks, self.acks[1:], strict=False):
            if cur.server_uuid != prev.server_uuid:
                out.append(Gap(prev.server_uuid, cur.server_uuid, prev.acked, cur.acked))
        return out

    async def verify(self, ep: Endpoint, timeout: float = 30.0) -> Report:  # noqa: ASYNC109
        """Compare the acknowledged writes with the rows on ``ep``."""
        async with await connect(ep, timeout=self.connect_timeout, query_timeout=timeout) as c:
            rows = await c.query(f"SELECT seq FROM {DATABASE}.{TABLE}")
        present = {int(r["seq"]) for r in rows}
        missing = tuple(a.seq for a in self.acks if a.seq not in present)
        return Report(
            acknowledged=len(self.acks),
            missing=missing,
            split_brain=tuple(self.split_brain),
            errors=self.errors,
        )

    def acked_after(self, t: float) -> int:
        """How many writes were acknowledged after monotonic time ``t``."""
        return sum(1 for a in self.acks if a.acked > t)
