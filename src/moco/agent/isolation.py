"""A primary cut off from every replica makes itself read-only (the agent's isolation fence).

When the primary's machine is cut off, the operator fails over to a replica after
``failover_after`` (2 s) of silence, but nobody can reach the old primary to fence it: it stays
writable (``read_only=OFF``) for as long as the partition lasts, and when the network heals it is
a second writable server until the operator's next pass fences it. Its commits cannot be
acknowledged (loss-less semi-sync, no replica), but a client on its side of the cut still
writes into its binary log, and a server that says it is writable is a split brain to every
observer. The agent runs on the same machine and sees the cut: it fences its own mysqld first.

The evidence comes from the kernel, not from the network: every replica is connected to its
source by one TCP connection (the binlog dump) over which the source sends a heartbeat every
``moco.mysql.ops.HEARTBEAT_PERIOD_S`` (1 s) when idle, and events when not. A replica that
is reachable acknowledges them within milliseconds; across a cut nothing is acknowledged, the
kernel's retransmission timer runs and its count of retransmissions grows. The Pod's network
namespace is the agent's, so ``/proc/net/tcp{,6}`` shows those connections.

Rules, in order (:func:`decide`):

1. an instance that is read-only, or not a semi-sync source (a single instance, a replica, a
   cluster following an external source) -> nothing to fence;
2. no binlog dump connection -> no evidence (every replica stopped or restarting: commits wait
   for an acknowledgement anyway; a cut is seen only on connections that exist);
3. a dump connection whose data was acknowledged (no retransmission pending) -> connected;
4. every dump connection has retransmitted at least ``min_retransmits`` times (nothing was
   acknowledged for several round-trip timeouts) -> isolated; fenced once isolated for
   ``isolation_after`` s without a break (a blip shorter than that never fences).

The fence (:func:`fence`) is the operator's: super_read_only, with commits hung on semi-sync
acknowledgements released (they are in the binary log already, never acknowledged, and the
operator reports them errant). The operator turns the instance writable again only if it is
still the primary when it can reach it (an asymmetric cut where the operator sees the primary
but no replica does: its commits could not complete anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from moco import constants
from moco.agent.credentials import EndpointSource, resolve
from moco.log import get_logger
from moco.mysql import ops
from moco.mysql.conn import Connection, connect
from moco.mysql.errors import MySQLError

log = get_logger("moco.agent.isolation")

#: the kernel's TCP tables of the agent's network namespace (the Pod's).
TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_ESTABLISHED = "01"
_RETRANSMIT_TIMER = 1


@dataclass(frozen=True)
class IsolationPolicy:
    """Bounds of the isolation fence (seconds)."""

    #: a cut must last this long before the primary fences itself: the operator's
    #: ``failover_after`` (a shorter blip never fails over, and never fences).
    isolation_after: float = 2.0
    #: retransmissions of unacknowledged data that make a connection cut (the first comes
    #: after the minimum retransmission timeout, 200 ms; three take about 1.4 s).
    min_retransmits: int = 3
    #: how often the agent looks.
    interval: float = 0.5
    #: how long the fence may wait for super_read_only, and how soon hung commits are released.
    fence_timeout: float = 10.0
    release_after: float = 0.2


@dataclass(frozen=True)
class Link:
    """One established TCP connection as the kernel shows it."""

    local: tuple[str, int]
    remote: tuple[str, int]
    #: bytes sent and not acknowledged.
    unacked: int
    #: the retransmission timer runs.
    retransmitting: bool
    #: retransmission timeouts since data was last acknowledged.
    retransmits: int


@dataclass(frozen=True)
class Facts:
    """What :func:`decide` needs, read at one moment."""

    writable: bool
    semisync_source: bool
    #: the replicas' connections to this source (``ip``, ``port``), from the processlist.
    replicas: frozenset[tuple[str, int]]
    links: tuple[Link, ...]


@dataclass(frozen=True)
class Verdict:
    isolated: bool
    reason: str


def decide(facts: Facts, policy: IsolationPolicy) -> Verdict:
    """Whether the instance is a writable source cut off from every replica (rules above)."""
    if not facts.writable or not facts.semisync_source:
        return Verdict(False, "not a writable semi-sync source")
    if not facts.replicas:
        return Verdict(False, "no replica connected")
    dumps = [link for link in facts.links if link.remote in facts.replicas]
    if not dumps:
        return Verdict(False, "no replica connection in the TCP table")
    cut = [d for d in dumps if d.retransmitting and d.retransmits >= policy.min_retransmits]
    if len(cut) < len(dumps):
        return Verdict(False, f"{len(dumps) - len(cut)} of {len(dumps)} replica connection(s) acknowledge")
    worst = min(d.retransmits for d in cut)
    return Verdict(True, f"every replica connection ({len(cut)}) unacknowledged, {worst}+ retransmissions")


def isolated_long_enough(since: float | None, now: float, policy: IsolationPolicy) -> bool:
    """Rule 4's span: isolated without a break since ``since`` (None: not isolated)."""
    return since is not None and now - since >= policy.isolation_after


# --- reading the facts -----------------------------------------------------------------------------
def _addr(hex_addr: str) -> tuple[str, int]:
    """``0100007F:0CEA`` (IPv4) or 32 hex digits (IPv6), in the kernel's byte order -> (ip, port).
    An IPv4-mapped IPv6 address is given as its IPv4 address (as mysqld names its clients)."""
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    # each 32-bit word is in host (little-endian) order
    data = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(data)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(port, 16)


def parse_tcp_table(text: str) -> list[Link]:
    """The established connections of a ``/proc/net/tcp`` or ``tcp6`` table (pure)."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 7 or f[3] != _ESTABLISHED:
            continue
        tx = int(f[4].split(":")[0], 16)
        timer = int(f[5].split(":")[0], 16)
        out.append(
            Link(
                local=_addr(f[1]),
                remote=_addr(f[2]),
                unacked=tx,
                retransmitting=timer == _RETRANSMIT_TIMER,
                retransmits=int(f[6], 16),
            )
        )
    return out


def read_links(tables: Iterable[Path] = TCP_TABLES) -> tuple[Link, ...]:
    links: list[Link] = []
    for t in tables:
        with contextlib.suppress(OSError):
            links.extend(parse_tcp_table(t.read_text()))
    return tuple(links)


def _host_port(host: str) -> tuple[str, int] | None:
    ip, sep, port = host.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return ip.strip("[]"), int(port)


async def gather(conn: Connection, tables: Iterable[Path] = TCP_TABLES) -> Facts:
    """The local mysqld's role and its replicas' connections, then the kernel's view of them."""
    row = await conn.query_one(
        "SELECT @@global.read_only AS ro,"
        " (SELECT VARIABLE_VALUE FROM performance_schema.global_variables"
        "   WHERE VARIABLE_NAME = 'rpl_semi_sync_source_enabled') AS sse"
    )
    rows = await conn.query(
        "SELECT HOST FROM performance_schema.processlist WHERE COMMAND LIKE 'Binlog Dump%'"
    )
    replicas = frozenset(hp for r in rows if (hp := _host_port(str(r["HOST"] or ""))) is not None)
    return Facts(
        writable=row is not None and not int(row["ro"]),
        semisync_source=row is not None and str(row["sse"] or "OFF").upper() in ("ON", "1"),
        replicas=replicas,
        links=read_links(tables),
    )


# --- the fence -------------------------------------------------------------------------------------
Connect = Callable[[], Awaitable[Connection]]


async def fence(connect: Connect, policy: IsolationPolicy) -> None:
    """super_read_only on the local mysqld, as the operator fences a former primary
    (``moco.clustering.operations.fence_instance``): clients killed; while the read-only
    statement waits behind commits hung on semi-sync acknowledgements, semi-sync is turned off
    to release them. ``connect`` opens an administrative connection (moco-admin)."""
    async with await connect() as conn:
        await ops.kill_connections(conn, spare_users=constants.SYSTEM_USERS)
        ro = asyncio.ensure_future(ops.set_read_only(conn, timeout=policy.fence_timeout))
        try:
            done, _ = await asyncio.wait({ro}, timeout=policy.release_after)
            if not done:
                async with await connect() as c2:
                    await ops.release_until_read_only(
                        c2, ro, spare_users=constants.SYSTEM_USERS, poll=policy.release_after
                    )
            await ro
        finally:
            if not ro.done():
                ro.cancel()


async def isolation_loop(
    connect: Connect, policy: IsolationPolicy, tables: Iterable[Path] = TCP_TABLES
) -> None:
    """Look every ``policy.interval`` s; fence after ``isolation_after`` s of isolation (runs
    until cancelled). ``connect`` opens an administrative connection to the local mysqld."""
    since: float | None = None
    conn: Connection | None = None
    tables = tuple(tables)
    while True:
        try:
            if conn is None or conn.closed:
                conn = await connect()
            facts = await gather(conn, tables)
            verdict = decide(facts, policy)
            now = time.monotonic()
            since = (since if since is not None else now) if verdict.isolated else None
            if isolated_long_enough(since, now, policy):
                log.warning("cut off from every replica: fencing the local mysqld", reason=verdict.reason)
                await fence(connect, policy)
                log.warning("local mysqld fenced (super_read_only)")
                since = None
        except MySQLError as e:
            log.debug("isolation check failed", error=str(e))
            if conn is not None:
                await conn.close()
            conn = None
        await asyncio.sleep(policy.interval)


def start(admin: EndpointSource, policy: IsolationPolicy | None = None) -> asyncio.Task[None]:
    """Run :func:`isolation_loop` for the local mysqld at ``admin`` (moco-admin) in a task; each
    connection takes the password of its moment (:mod:`moco.agent.credentials`)."""

    async def connect_admin() -> Connection:
        return await connect(resolve(admin), timeout=1.0, query_timeout=2.0)

    return asyncio.create_task(
        isolation_loop(connect_admin, policy or IsolationPolicy()), name="moco-agent-isolation"
    )
