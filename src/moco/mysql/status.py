"""What one mysqld says about itself, read in one call: :func:`get_status`.

The result is a tree of frozen dataclasses that decision functions consume without I/O.

Invariants:

- Missing plugins are not errors: without the semi-sync plugins their fields read as disabled
  / zero; without the clone plugin (no ``performance_schema.clone_status``) ``clone`` is None.
- ``replica`` is None when the server has no replication source configured (SHOW REPLICA
  STATUS returns no row, e.g. after RESET REPLICA ALL).
- Four round trips: variables + status counters in one UNION, SHOW REPLICA STATUS, SHOW
  REPLICAS, clone_status.
- A status that cannot be read completely raises :class:`IncompleteStatus` (a missing row of
  a variable every server has, an unparsable GTID set): it is never filled with defaults, as
  ``read_only`` read as OFF or an empty ``gtid_executed`` would make a live primary look
  writable or empty. The caller treats the instance as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moco.mysql.conn import Connection
from moco.mysql.errors import MySQLError, SQLError
from moco.mysql.gtid import EMPTY, GtidParseError, GtidSet

_VARIABLES = (
    "server_uuid",
    "gtid_executed",
    "gtid_purged",
    "read_only",
    "super_read_only",
    "rpl_semi_sync_source_enabled",
    "rpl_semi_sync_source_wait_for_replica_count",
    "rpl_semi_sync_source_timeout",
    "rpl_semi_sync_source_wait_no_replica",
    "rpl_semi_sync_replica_enabled",
)
#: Variables every server has; a missing row means the answer is incomplete (semi-sync
#: variables exist only with their plugins, so they are not required).
_REQUIRED = ("server_uuid", "gtid_executed", "gtid_purged", "read_only", "super_read_only")
_STATUS = (
    "Rpl_semi_sync_source_clients",
    "Rpl_semi_sync_source_yes_tx",
    "Rpl_semi_sync_source_wait_sessions",
    "Uptime",
)

_VARS_SQL = (
    "SELECT 'v' AS kind, VARIABLE_NAME AS name, VARIABLE_VALUE AS value"
    " FROM performance_schema.global_variables WHERE VARIABLE_NAME IN ({v})"
    " UNION ALL "
    "SELECT 's', VARIABLE_NAME, VARIABLE_VALUE"
    " FROM performance_schema.global_status WHERE VARIABLE_NAME IN ({s})"
).format(v=", ".join(f"'{n}'" for n in _VARIABLES), s=", ".join(f"'{n}'" for n in _STATUS))


class IncompleteStatus(MySQLError):
    """The server answered, but its status could not be read completely (the instance is unknown)."""


def _gtid(name: str, text: str) -> GtidSet:
    try:
        return GtidSet.parse(text) if text else EMPTY
    except GtidParseError as e:
        raise IncompleteStatus(f"{name} is not a GTID set: {e}") from e


#: ER_NO_SUCH_TABLE: performance_schema.clone_status exists only with the clone plugin.
_NO_SUCH_TABLE = 1146


@dataclass(frozen=True)
class ReplicaStatus:
    """One row of SHOW REPLICA STATUS (the default channel)."""

    source_host: str
    source_port: int
    io_running: str  # 'Yes' | 'No' | 'Connecting'
    sql_running: bool
    last_io_errno: int
    last_io_error: str
    last_sql_errno: int
    last_sql_error: str
    retrieved_gtid_set: GtidSet
    executed_gtid_set: GtidSet
    seconds_behind_source: int | None
    #: Source_SSL_Allowed is Yes: the connection to the source must be encrypted
    ssl_allowed: bool = False
    #: Source_SSL_CA_File: the CA the source's certificate must chain to ('' = not checked)
    ssl_ca_file: str = ""
    #: Source_SSL_Verify_Server_Cert is Yes: the certificate must also name SOURCE_HOST
    ssl_verify_server_cert: bool = False

    @property
    def verifies_source(self) -> bool:
        """The replica accepts only a source whose certificate chains to ``ssl_ca_file`` and names
        the source host (what :func:`moco.mysql.ops.change_source` sets with ``verify_ca``)."""
        return self.ssl_allowed and bool(self.ssl_ca_file) and self.ssl_verify_server_cert

    @property
    def io_ok(self) -> bool:
        """The IO thread runs (or tries to connect) and reports no error."""
        return self.io_running in ("Yes", "Connecting") and self.last_io_errno == 0


#: ``performance_schema.clone_status.STATE`` of a clone that finished well.
CLONE_COMPLETED = "Completed"


@dataclass(frozen=True)
class CloneStatus:
    """The last row of performance_schema.clone_status (on the recipient)."""

    state: str | None  # 'Not Started' | 'In Progress' | 'Completed' | 'Failed'
    error_no: int
    error_message: str


@dataclass(frozen=True)
class ConnectedReplica:
    """One row of SHOW REPLICAS: a replica whose IO thread is connected here."""

    server_id: int
    host: str
    port: int


@dataclass(frozen=True)
class InstanceStatus:
    """Everything the clustering decisions need to know about one mysqld."""

    server_uuid: str
    gtid_executed: GtidSet
    gtid_purged: GtidSet
    read_only: bool
    super_read_only: bool
    semi_sync_source_enabled: bool
    semi_sync_source_wait_count: int
    semi_sync_source_timeout_ms: int
    semi_sync_source_clients: int
    semi_sync_source_yes_tx: int
    #: sessions waiting for semi-sync acknowledgements (a primary hung up on missing ACKs).
    semi_sync_source_wait_sessions: int
    semi_sync_replica_enabled: bool
    replica: ReplicaStatus | None
    connected_replicas: tuple[ConnectedReplica, ...]
    clone: CloneStatus | None
    uptime_s: int
    #: ``rpl_semi_sync_source_wait_no_replica``: off, a primary whose semi-sync replicas all
    #: left falls back to asynchronous commits (a fence turns it off for a moment to release
    #: commits hung on acknowledgements: ``moco.mysql.ops.release_until_read_only``).
    semi_sync_source_wait_no_replica: bool = True


def _flag(v: Any) -> bool:
    return str(v).upper() in ("ON", "1", "YES", "TRUE")


def _int(v: Any, default: int = 0) -> int:
    if v is None or v == "":
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def parse_replica_row(row: dict[str, Any]) -> ReplicaStatus:
    """Build a :class:`ReplicaStatus` from a SHOW REPLICA STATUS row."""
    sbs = row.get("Seconds_Behind_Source")
    return ReplicaStatus(
        source_host=_str(row.get("Source_Host")),
        source_port=_int(row.get("Source_Port")),
        io_running=_str(row.get("Replica_IO_Running")) or "No",
        sql_running=_str(row.get("Replica_SQL_Running")) == "Yes",
        last_io_errno=_int(row.get("Last_IO_Errno")),
        last_io_error=_str(row.get("Last_IO_Error")),
        last_sql_errno=_int(row.get("Last_SQL_Errno")),
        last_sql_error=_str(row.get("Last_SQL_Error")),
        retrieved_gtid_set=_gtid("Retrieved_Gtid_Set", _str(row.get("Retrieved_Gtid_Set"))),
        executed_gtid_set=_gtid("Executed_Gtid_Set", _str(row.get("Executed_Gtid_Set"))),
        seconds_behind_source=None if sbs is None else _int(sbs),
        ssl_allowed=_str(row.get("Source_SSL_Allowed")) == "Yes",
        ssl_ca_file=_str(row.get("Source_SSL_CA_File")),
        ssl_verify_server_cert=_str(row.get("Source_SSL_Verify_Server_Cert")) == "Yes",
    )


async def get_replica_status(conn: Connection) -> ReplicaStatus | None:
    """SHOW REPLICA STATUS, or None when no source is configured."""
    rows = await conn.query("SHOW REPLICA STATUS")
    return parse_replica_row(rows[0]) if rows else None


async def get_clone_status(conn: Connection) -> CloneStatus | None:
    """The latest clone_status row; None without the clone plugin or before any clone."""
    try:
        rows = await conn.query(
            "SELECT STATE, ERROR_NO, ERROR_MESSAGE FROM performance_schema.clone_status"
            " ORDER BY ID DESC LIMIT 1"
        )
    except SQLError as e:
        if e.code == _NO_SUCH_TABLE:
            return None
        raise
    if not rows:
        return None
    r = rows[0]
    return CloneStatus(
        state=_str(r["STATE"]) or None, error_no=_int(r["ERROR_NO"]), error_message=_str(r["ERROR_MESSAGE"])
    )


async def get_status(conn: Connection) -> InstanceStatus:
    """Read the whole :class:`InstanceStatus` of the server behind ``conn``."""
    var: dict[str, str] = {}
    st: dict[str, str] = {}
    for r in await conn.query(_VARS_SQL):
        (var if r["kind"] == "v" else st)[_str(r["name"]).lower()] = _str(r["value"])
    missing = [n for n in _REQUIRED if n not in var]
    if missing or not var.get("server_uuid"):
        raise IncompleteStatus(f"no value for {', '.join(missing) or 'server_uuid'}")
    gtid_executed = _gtid("gtid_executed", var["gtid_executed"])
    gtid_purged = _gtid("gtid_purged", var["gtid_purged"])
    replica = await get_replica_status(conn)
    connected = tuple(
        ConnectedReplica(
            server_id=_int(r.get("Server_Id")), host=_str(r.get("Host")), port=_int(r.get("Port"))
        )
        for r in await conn.query("SHOW REPLICAS")
    )
    clone = await get_clone_status(conn)
    return InstanceStatus(
        server_uuid=var["server_uuid"],
        gtid_executed=gtid_executed,
        gtid_purged=gtid_purged,
        read_only=_flag(var["read_only"]),
        super_read_only=_flag(var["super_read_only"]),
        semi_sync_source_enabled=_flag(var.get("rpl_semi_sync_source_enabled")),
        semi_sync_source_wait_count=_int(var.get("rpl_semi_sync_source_wait_for_replica_count")),
        semi_sync_source_timeout_ms=_int(var.get("rpl_semi_sync_source_timeout")),
        semi_sync_source_clients=_int(st.get("rpl_semi_sync_source_clients")),
        semi_sync_source_yes_tx=_int(st.get("rpl_semi_sync_source_yes_tx")),
        semi_sync_source_wait_sessions=_int(st.get("rpl_semi_sync_source_wait_sessions")),
        semi_sync_replica_enabled=_flag(var.get("rpl_semi_sync_replica_enabled")),
        replica=replica,
        connected_replicas=connected,
        clone=clone,
        uptime_s=_int(st.get("uptime")),
        semi_sync_source_wait_no_replica=_flag(var.get("rpl_semi_sync_source_wait_no_replica", "ON")),
    )
