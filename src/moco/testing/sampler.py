"""A sampler of every mysqld's writability: two writable servers at once is a split brain.

:class:`WritableSampler` runs rounds many times a second. A round asks every instance at the
same time, over connections kept open, for ``@@read_only``, ``@@super_read_only`` and the
server's own clock (``SYSDATE(6)``, read by the same statement; every mysqld of the test ground
runs on this host, so their clocks are one clock).

"Two writable at the same instant" is defined on a round: two or more servers answered
``read_only = 0`` and the server-side times of all the round's answers lie within ``window``
seconds (default 20 ms). Such a round is a *two-writable sample*. A round whose answers are
spread wider (a loaded machine, a server slow to answer) cannot prove the two states coexisted:
when it shows two writable servers it is kept apart as a *wide* sample, reported but not counted.

A writable server may still be unable to acknowledge a commit: a former primary that wakes up
after a failover has semi-sync on and no replica left, so its commits wait. The same statement
reads the semi-sync state and the server's own replication; a server counts as able to commit
when enough of the round's other servers replicate from it with semi-sync (and it counts them
too). A two-writable sample where two servers could commit is also counted as *two committing*,
the split brain that loses data.

A server that does not answer within ``read_timeout`` (paused, killed, restarting) is left out
of the round and skipped for ``skip_after_timeout`` seconds, so one hung server does not slow
the sampling of the others. The sampler also records each change of the set of writable servers
and the longest time no round saw the primary writable (any server, when it is not told
which one is the primary).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.tasks import cancel_and_wait

#: Default largest spread of server-side times within one round (seconds).
DEFAULT_WINDOW = 0.02
#: Default pause between two rounds (seconds).
DEFAULT_INTERVAL = 0.02

# One statement, so every value is read at the same moment; the semi-sync values come from
# performance_schema (NULL rather than an error when the plugin is not installed).
_QUERY = (
    "SELECT @@read_only AS ro, @@super_read_only AS sro, UNIX_TIMESTAMP(SYSDATE(6)) AS t,"
    " (SELECT VARIABLE_VALUE FROM performance_schema.global_variables"
    "   WHERE VARIABLE_NAME = 'rpl_semi_sync_source_enabled') AS sse,"
    " (SELECT VARIABLE_VALUE FROM performance_schema.global_variables"
    "   WHERE VARIABLE_NAME = 'rpl_semi_sync_source_wait_for_replica_count') AS swc,"
    " (SELECT VARIABLE_VALUE FROM performance_schema.global_status"
    "   WHERE VARIABLE_NAME = 'Rpl_semi_sync_source_clients') AS ssc,"
    " @@server_uuid AS uuid,"
    " (SELECT SOURCE_UUID FROM performance_schema.replication_connection_status"
    "   WHERE CHANNEL_NAME = '') AS src_uuid,"
    " (SELECT SERVICE_STATE FROM performance_schema.replication_connection_status"
    "   WHERE CHANNEL_NAME = '') AS io,"
    " (SELECT VARIABLE_VALUE FROM performance_schema.global_variables"
    "   WHERE VARIABLE_NAME = 'rpl_semi_sync_replica_enabled') AS sre"
)


@dataclass(frozen=True)
class Reading:
    """One server's answer in a round."""

    name: str
    read_only: bool
    super_read_only: bool
    #: the server's clock when it read the variables (seconds since the epoch).
    server_time: float
    #: writable and able to acknowledge a commit: semi-sync source off, or at least
    #: ``rpl_semi_sync_source_wait_for_replica_count`` semi-sync replicas connected by its own
    #: count and by the round's other answers (see :meth:`WritableSampler.round`).
    can_commit: bool = False
    #: the server's ``server_uuid``, and the replication it runs itself (for the round's
    #: cross-check; UUIDs, not ports: every instance listens on 3306 in Kubernetes).
    uuid: str = ""
    semisync_source: bool = False
    wait_count: int = 1
    semisync_clients: int = 0
    source_uuid: str | None = None
    io_on: bool = False
    semisync_replica: bool = False


@dataclass(frozen=True)
class Sample:
    """A round that saw more than one writable server."""

    #: monotonic time of the round's start.
    at: float
    writable: tuple[str, ...]
    #: largest difference between the server-side times of the round's answers (seconds).
    spread: float
    #: those of ``writable`` that could also acknowledge a commit (see :class:`Reading`).
    can_commit: tuple[str, ...] = ()


@dataclass
class WritableSampler:
    """Samples ``read_only`` of every instance; see the module docstring."""

    #: (name, endpoint) of every instance to sample, asked before every round.
    instances: Callable[[], Sequence[tuple[str, Endpoint]]]
    interval: float = DEFAULT_INTERVAL
    window: float = DEFAULT_WINDOW
    read_timeout: float = 0.3
    skip_after_timeout: float = 1.0
    #: the name of the instance clients write to (the primary by the cluster's status); when
    #: given, only that instance answering writable ends a time without a writable primary (a
    #: former primary still writable does not count: clients no longer reach it).
    primary: Callable[[], str] | None = None
    rounds: int = 0
    readings: int = 0
    #: rounds with two writable servers within ``window``: the split brains.
    two_writable: list[Sample] = field(default_factory=list)
    #: two-writable samples where two servers could also acknowledge commits: two servers
    #: that both take writes, the split brain that loses data.
    two_committing: list[Sample] = field(default_factory=list)
    #: rounds with two writable servers whose answers were spread wider than ``window``.
    two_writable_wide: list[Sample] = field(default_factory=list)
    #: (monotonic time, writable names) each time the set of writable servers changed.
    transitions: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)
    #: longest time between two rounds that saw the primary writable (seconds), and when it ended.
    longest_no_writable: float = 0.0
    longest_no_writable_end: float = 0.0
    #: called with each two-writable (or wide) sample as it is taken, and with each change of
    #: the writable set (monotonic time, names), for a live timeline.
    on_sample: Callable[[Sample, bool], None] | None = None
    on_transition: Callable[[float, tuple[str, ...]], None] | None = None
    _last_writable_at: float | None = None
    _skip_until: dict[str, float] = field(default_factory=dict)
    _conns: dict[tuple[str, Endpoint], Connection] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling (the first round counts as the start of the no-writable clock)."""
        if self._task is None or self._task.done():
            self._last_writable_at = time.monotonic()
            self._task = asyncio.create_task(self._loop(), name="writable-sampler")

    async def stop(self) -> None:
        """Stop sampling and close the connections; closes the no-writable interval in progress."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        conns, self._conns = self._conns, {}
        for c in conns.values():
            await c.close()

    def no_writable_now(self) -> float:
        """Seconds since a round last saw a writable server."""
        return 0.0 if self._last_writable_at is None else time.monotonic() - self._last_writable_at

    async def _read(self, name: str, ep: Endpoint) -> Reading | None:
        key = (name, ep)
        try:
            c = self._conns.get(key)
            if c is None or c.closed:
                c = await connect(ep, timeout=self.read_timeout, query_timeout=self.read_timeout)
                self._conns[key] = c
            row = await c.query_one(_QUERY)
        except MySQLError:
            old = self._conns.pop(key, None)
            if old is not None:
                await old.close()
            self._skip_until[name] = time.monotonic() + self.skip_after_timeout
            return None
        if row is None:
            return None
        return Reading(
            name,
            read_only=bool(int(row["ro"])),
            super_read_only=bool(int(row["sro"])),
            server_time=float(row["t"]),
            uuid=str(row["uuid"]),
            semisync_source=_on(row["sse"]),
            wait_count=int(row["swc"] or 1),
            semisync_clients=int(row["ssc"] or 0),
            source_uuid=None if not row["src_uuid"] else str(row["src_uuid"]),
            io_on=str(row["io"] or "").upper() == "ON",
            semisync_replica=_on(row["sre"]),
        )

    async def round(self) -> list[Reading]:
        """One round over the instances that are not being skipped; updates the figures."""
        now = time.monotonic()
        eps = [(n, ep) for n, ep in self.instances() if self._skip_until.get(n, 0.0) <= now]
        got = await asyncio.gather(*(self._read(n, ep) for n, ep in eps))
        readings = mark_commit_ability([r for r in got if r is not None])
        self.rounds += 1
        self.readings += len(readings)
        writable = tuple(sorted(r.name for r in readings if not r.read_only))
        if not self.transitions or self.transitions[-1][1] != writable:
            self.transitions.append((now, writable))
            if self.on_transition is not None:
                self.on_transition(now, writable)
        served = self.primary() in writable if self.primary is not None else bool(writable)
        if served:
            if self._last_writable_at is not None:
                gap = now - self._last_writable_at
                if gap > self.longest_no_writable:
                    self.longest_no_writable, self.longest_no_writable_end = gap, now
            self._last_writable_at = now
        if len(writable) > 1:
            times = [r.server_time for r in readings]
            spread = max(times) - min(times)
            committing = tuple(sorted(r.name for r in readings if r.can_commit))
            sample = Sample(now, writable, spread, committing)
            close = spread <= self.window
            (self.two_writable if close else self.two_writable_wide).append(sample)
            if close and len(committing) > 1:
                self.two_committing.append(sample)
            if self.on_sample is not None:
                self.on_sample(sample, close)
        return readings

    async def _loop(self) -> None:
        while True:
            await self.round()
            await asyncio.sleep(self.interval)

    def finish(self) -> None:
        """Count the interval without a writable server still open at the end."""
        if self._last_writable_at is not None:
            gap = time.monotonic() - self._last_writable_at
            if gap > self.longest_no_writable:
                self.longest_no_writable, self.longest_no_writable_end = gap, time.monotonic()


def _on(v: object) -> bool:
    return str(v or "OFF").upper() in ("ON", "1")


def mark_commit_ability(readings: list[Reading]) -> list[Reading]:
    """Mark the writable servers that could acknowledge a commit now.

    With semi-sync on, a commit needs ``wait_count`` acknowledging replicas. The server's own
    count of semi-sync clients is not enough: a server that was frozen still counts the
    connections of replicas that left meanwhile until it notices. So a replica counts only when
    the round's answers agree from both sides: the server counts enough clients, and enough
    other answering servers replicate from it (by server UUID) with a running IO thread and
    semi-sync on.
    """
    out = []
    for r in readings:
        ok = not r.read_only
        if ok and r.semisync_source:
            followers = sum(
                1
                for o in readings
                if o is not r and o.source_uuid == r.uuid and o.io_on and o.semisync_replica
            )
            ok = min(followers, r.semisync_clients) >= r.wait_count
        out.append(replace(r, can_commit=ok))
    return out
