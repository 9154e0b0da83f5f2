"""What the probes read from the local mysqld, and the connection they share.

:class:`LocalDB` keeps one connection to the local mysqld (as ``moco-agent``) and opens a new
one when the old one broke; every statement is bounded by the connection's timeouts.
:func:`gather_facts` reads what the ``moco-agent`` user may read (read_only, uptime, clone_status,
SHOW REPLICA STATUS, the replication applier's timestamps, the source's last heartbeat) into
:class:`moco.agent.readiness.ReadinessFacts` for the pure decision.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from moco.agent.credentials import EndpointSource, resolve
from moco.agent.readiness import ReadinessFacts, ReplicaFacts
from moco.mysql.conn import Connection, connect
from moco.mysql.errors import MySQLError
from moco.mysql.status import get_clone_status, get_replica_status

_LAG_SQL = (
    "SELECT"
    " (SELECT MAX(LAST_QUEUED_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP)"
    "  FROM performance_schema.replication_connection_status) AS queued,"
    " (SELECT MAX(LAST_APPLIED_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP)"
    "  FROM performance_schema.replication_applier_status_by_worker) AS applied,"
    # seconds since the source's last heartbeat; NULL when none arrived (zero timestamp)
    " (SELECT MIN(IF(COUNT_RECEIVED_HEARTBEATS > 0,"
    "   TIMESTAMPDIFF(MICROSECOND, LAST_HEARTBEAT_TIMESTAMP, NOW(6)) / 1e6, NULL))"
    "  FROM performance_schema.replication_connection_status) AS heartbeat_age"
)


class LocalDB:
    """One lazily opened, self-healing connection to the local mysqld."""

    def __init__(self, endpoint: EndpointSource, *, connect_timeout: float = 3.0, query_timeout: float = 5.0):
        self.endpoint = endpoint
        self._connect_timeout = connect_timeout
        self._query_timeout = query_timeout
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Connection:
        """A live connection (opened if needed)."""
        async with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = await connect(
                    resolve(self.endpoint), timeout=self._connect_timeout, query_timeout=self._query_timeout
                )
            return self._conn

    async def reset(self) -> None:
        """Drop the connection (after an error: the next :meth:`get` opens a new one)."""
        async with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def close(self) -> None:
        await self.reset()


def _timestamp(v: Any) -> datetime | None:
    # A zero TIMESTAMP(6) ("0000-00-00 ...") means "none yet"; the driver gives it as a string or None.
    return v if isinstance(v, datetime) else None


async def replication_lag(conn: Connection) -> tuple[float | None, float | None]:
    """Seconds between the last queued and the last applied transaction (None if none was
    queued), and seconds since the source's last heartbeat (None if none arrived)."""
    row = await conn.query_one(_LAG_SQL)
    if row is None:
        return None, None
    hb = row.get("heartbeat_age")
    heartbeat = max(float(hb), 0.0) if hb is not None else None
    queued = _timestamp(row.get("queued"))
    if queued is None:
        return None, heartbeat
    applied = _timestamp(row.get("applied"))
    if applied is None:
        return float("inf"), heartbeat
    return max((queued - applied).total_seconds(), 0.0), heartbeat


async def gather_facts(conn: Connection) -> ReadinessFacts:
    """Everything :func:`moco.agent.readiness.decide_readiness` needs, read from ``conn``."""
    row = await conn.query_one(
        "SELECT @@global.read_only AS ro,"
        " (SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Uptime') AS up"
    )
    clone = await get_clone_status(conn)
    r = await get_replica_status(conn)
    replica = None
    lag = heartbeat = None
    if r is not None:
        replica = ReplicaFacts(
            io_running=r.io_running,
            sql_running=r.sql_running,
            last_io_errno=r.last_io_errno,
            last_sql_errno=r.last_sql_errno,
        )
        lag, heartbeat = await replication_lag(conn)
    return ReadinessFacts(
        clone_state=clone.state if clone is not None else None,
        read_only=row is not None and bool(int(row["ro"])),
        replica=replica,
        lag_s=lag,
        uptime_s=float(row["up"]) if row is not None and row["up"] is not None else 0.0,
        heartbeat_age_s=heartbeat,
    )


async def alive(conn: Connection) -> bool:
    """Liveness: mysqld answers a trivial query."""
    try:
        await conn.query("SELECT 1")
    except MySQLError:
        return False
    return True
