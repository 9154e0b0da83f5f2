"""Operations on one mysqld: read-only, semi-sync, replication, waiting, killing, plugins.

The clone procedure is :mod:`moco.mysql.clone`.

Invariants:

- Every operation is idempotent: running it twice leaves the server as running it once, so a
  caller whose call timed out (the statement may still have run) simply calls it again.
- Every statement runs under the connection's timeouts (see :mod:`moco.mysql.conn`); the
  waits here (:func:`wait_for_gtid`) take their own bound.
- Only MySQL 8.4+ syntax: CHANGE REPLICATION SOURCE, START/STOP REPLICA, rpl_semi_sync_source_*,
  RESET BINARY LOGS AND GTIDS.
- Passwords travel as escaped statement arguments and are never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from moco.log import get_logger
from moco.mysql.conn import Connection
from moco.mysql.errors import MySQLError, SQLError
from moco.mysql.gtid import GtidSet
from moco.mysql.status import get_replica_status

log = get_logger("moco.mysql.ops")

#: A day: a source waits (almost) forever for a semi-sync ACK rather than lose a transaction.
DEFAULT_SEMISYNC_TIMEOUT_MS: Final = 24 * 60 * 60 * 1000

#: Plugins moco needs, by plugin name -> library.
PLUGINS: Final = {
    "rpl_semi_sync_source": "semisync_source.so",
    "rpl_semi_sync_replica": "semisync_replica.so",
    "clone": "mysql_clone.so",
}

#: Users of server-internal threads; their threads are never killed.
_INTERNAL_USERS: Final = frozenset({"system user", "event_scheduler"})
_ER_NO_SUCH_THREAD: Final = 1094
_WAIT_NO_REPLICA: Final = "rpl_semi_sync_source_wait_no_replica"
_ER_FUNCTION_EXISTS: Final = 1125


async def _global_vars(conn: Connection, *names: str) -> dict[str, str]:
    rows = await conn.query(
        "SELECT VARIABLE_NAME AS name, VARIABLE_VALUE AS value FROM performance_schema.global_variables"
        " WHERE VARIABLE_NAME IN ({})".format(", ".join(["%s"] * len(names))),
        names,
    )
    return {str(r["name"]).lower(): str(r["value"]) for r in rows}


def _on(v: str | None) -> bool:
    return (v or "").upper() in ("ON", "1")


# --- read-only ---------------------------------------------------------------------------------
SUPER_READ_ONLY_SQL = "SET GLOBAL super_read_only = ON"
"""The statement :func:`set_read_only` sends; :func:`runs` can look for it."""


async def set_read_only(
    conn: Connection,
    *,
    super_read_only: bool = True,
    timeout: float | None = None,  # noqa: ASYNC109
) -> None:
    """Make the server read-only; with ``super_read_only`` even for SUPER users (the default).

    Running writes (and commits waiting for semi-sync acknowledgements) keep the statement
    waiting: ``timeout`` bounds each statement when the connection's query timeout is too short.
    """
    if super_read_only:
        await conn.execute(SUPER_READ_ONLY_SQL, timeout=timeout)  # implies read_only = ON
    else:
        await conn.execute("SET GLOBAL read_only = ON", timeout=timeout)
        await conn.execute("SET GLOBAL super_read_only = OFF", timeout=timeout)


async def set_writable(conn: Connection) -> None:
    """Make the server writable (super_read_only = read_only = OFF)."""
    await conn.execute("SET GLOBAL super_read_only = OFF")
    await conn.execute("SET GLOBAL read_only = OFF")


# --- semi-sync ---------------------------------------------------------------------------------
async def configure_semisync_source(
    conn: Connection,
    *,
    enabled: bool,
    wait_count: int = 1,
    timeout_ms: int = DEFAULT_SEMISYNC_TIMEOUT_MS,
) -> None:
    """Set the source side of semi-sync (the plugin must be installed: :func:`install_plugins`).

    ``wait_count`` replicas must acknowledge each commit; after ``timeout_ms`` without enough
    acknowledgements the source falls back to asynchronous replication. Enabling it also sets
    ``rpl_semi_sync_source_wait_no_replica`` on, before semi-sync: off, the source would fall
    back to asynchronous commits as soon as its replicas left (a fence may have left it off:
    :func:`release_until_read_only`).
    """
    cur = await _global_vars(
        conn,
        "rpl_semi_sync_source_enabled",
        "rpl_semi_sync_source_wait_for_replica_count",
        "rpl_semi_sync_source_timeout",
        _WAIT_NO_REPLICA,
    )
    if not cur:
        raise SQLError("rpl_semi_sync_source plugin is not installed", code=1193)
    if wait_count >= 1 and cur.get("rpl_semi_sync_source_wait_for_replica_count") != str(wait_count):
        await conn.execute("SET GLOBAL rpl_semi_sync_source_wait_for_replica_count = %s", (wait_count,))
    if cur.get("rpl_semi_sync_source_timeout") != str(timeout_ms):
        await conn.execute("SET GLOBAL rpl_semi_sync_source_timeout = %s", (timeout_ms,))
    if enabled and not _on(cur.get(_WAIT_NO_REPLICA, "ON")):
        await conn.execute(f"SET GLOBAL {_WAIT_NO_REPLICA} = ON")
    if _on(cur.get("rpl_semi_sync_source_enabled")) != enabled:
        await conn.execute("SET GLOBAL rpl_semi_sync_source_enabled = %s", ("ON" if enabled else "OFF",))


async def configure_semisync_replica(conn: Connection, *, enabled: bool) -> None:
    """Set the replica side of semi-sync; restarts a running IO thread so the change takes effect."""
    cur = await _global_vars(conn, "rpl_semi_sync_replica_enabled")
    if not cur:
        raise SQLError("rpl_semi_sync_replica plugin is not installed", code=1193)
    if _on(cur.get("rpl_semi_sync_replica_enabled")) == enabled:
        return
    await conn.execute("SET GLOBAL rpl_semi_sync_replica_enabled = %s", ("ON" if enabled else "OFF",))
    rs = await get_replica_status(conn)
    if rs is not None and rs.io_running != "No":
        await conn.execute("STOP REPLICA IO_THREAD")
        await conn.execute("START REPLICA IO_THREAD")


# --- replication -------------------------------------------------------------------------------
#: ``SOURCE_HEARTBEAT_PERIOD`` of every replica (MySQL's default is half ``replica_net_timeout``,
#: 30 s). A source sends a heartbeat only when it has nothing more to send, so a recent one tells
#: a replica that has received no transaction that it holds everything (the agent's readiness,
#: rule 7): a new cluster's replicas are ready about a second after they connect.
HEARTBEAT_PERIOD_S = 1.0


async def change_source(
    conn: Connection,
    *,
    host: str,
    port: int,
    user: str,
    password: str,
    tls: bool = True,
    verify_ca: str | None = None,
    verify_name: bool = True,
) -> None:
    """Point replication at ``host:port`` with GTID auto-positioning; stops a running replica first.

    How the replica talks to its source, the three ways (each statement sets every TLS option,
    so a change of way leaves nothing of the previous one behind):

    * ``verify_ca`` (a path on the replica's host: the cluster CA moco mounts): the replica
      requires TLS and a certificate that chains to that CA; with ``verify_name`` the
      certificate must also name ``host`` (``SOURCE_SSL_VERIFY_SERVER_CERT = 1``: MySQL's
      VERIFY_IDENTITY), without it the chain alone is checked (``SOURCE_SSL_CA`` set and
      ``SOURCE_SSL_VERIFY_SERVER_CERT = 0``: MySQL's VERIFY_CA), so that ``host`` may be an
      address the certificate does not carry (a Pod IP: no DNS look-up). No RSA key exchange is
      needed (``GET_SOURCE_PUBLIC_KEY = 0``): the password travels inside the verified channel;
    * ``tls`` alone (an instance not yet serving moco's certificate, mid-rollout): encrypted with
      whatever certificate the source serves, unverified (``SOURCE_SSL = 1``);
    * neither (an external source, which may not serve TLS, as MOCO treats it):
      ``GET_SOURCE_PUBLIC_KEY = 1`` lets a caching_sha2_password user authenticate anyway.

    The heartbeat period is :data:`HEARTBEAT_PERIOD_S`. The replica is left stopped: call
    :func:`start_replica`. Raises :class:`ValueError` for ``verify_ca`` without ``tls``.
    """
    if verify_ca is not None and not tls:
        raise ValueError("change_source: verify_ca needs tls=True (a verified source is a TLS source)")
    if verify_ca == "":
        raise ValueError("change_source: verify_ca is empty: give the CA file's path, or None")
    rs = await get_replica_status(conn)
    if rs is not None and (rs.io_running != "No" or rs.sql_running):
        await stop_replica(conn)
    # (SOURCE_SSL, SOURCE_SSL_CA, SOURCE_SSL_VERIFY_SERVER_CERT, GET_SOURCE_PUBLIC_KEY)
    if verify_ca is not None:
        security: tuple[int, str, int, int] = (1, verify_ca, 1 if verify_name else 0, 0)
    elif tls:
        security = (1, "", 0, 0)
    else:
        security = (0, "", 0, 1)
    await conn.execute(
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST = %s, SOURCE_PORT = %s, SOURCE_USER = %s,"
        " SOURCE_PASSWORD = %s, SOURCE_AUTO_POSITION = 1, SOURCE_SSL = %s, SOURCE_SSL_CA = %s,"
        " SOURCE_SSL_VERIFY_SERVER_CERT = %s, GET_SOURCE_PUBLIC_KEY = %s, SOURCE_HEARTBEAT_PERIOD = %s",
        (host, int(port), user, password, *security, HEARTBEAT_PERIOD_S),
    )
    log.info(
        "replication source changed",
        server=conn.endpoint.address,
        source=f"{host}:{port}",
        tls=tls,
        verified=verify_ca is not None,
        name_verified=verify_ca is not None and verify_name,
    )


async def start_replica(conn: Connection) -> None:
    """START REPLICA (both threads; a no-op for threads already running)."""
    await conn.execute("START REPLICA")


#: the applier's coordinator thread (``performance_schema.threads.NAME``, MySQL 8.0.26 and later).
APPLIER_THREAD = "thread/sql/replica_sql"


async def stop_replica(conn: Connection) -> None:
    """Stop both replication threads at once, even when the relay log ends inside a transaction.

    A source that dies while it sends a transaction leaves the first half of it in the relay
    log; the applier's coordinator has already handed it to a worker, and a plain STOP REPLICA
    then waits 60 s for the rest, which will never come (measured on 9.7: 60.9 s; MySQL
    documents the wait for multithreaded replicas). So the receiver is stopped first, and when
    it leaves a transaction half-queued (``QUEUEING_TRANSACTION`` still set) the coordinator is
    killed: its worker rolls the half back, as nothing of it was committed nor acknowledged (a
    replica acknowledges a transaction once it is queued whole), and what it needs is fetched
    again, whole, from whichever source it follows next. Then STOP REPLICA returns at once.
    A no-op when both threads are stopped.
    """
    await conn.execute("STOP REPLICA IO_THREAD")
    row = await conn.query_one(
        "SELECT c.QUEUEING_TRANSACTION AS queueing, t.PROCESSLIST_ID AS applier"
        " FROM performance_schema.replication_connection_status c"
        " LEFT JOIN performance_schema.threads t ON t.NAME = %s"
        " WHERE c.CHANNEL_NAME = ''",
        (APPLIER_THREAD,),
    )
    if row is not None and row["queueing"] and row["applier"] is not None:
        log.warning(
            "the relay log ends inside a transaction its source never finished sending: rolling it back",
            server=conn.endpoint.address,
            gtid=str(row["queueing"]),
        )
        try:
            await conn.execute("KILL %s", (int(row["applier"]),))
        except SQLError as e:
            if e.code != _ER_NO_SUCH_THREAD:  # it stopped meanwhile
                raise
    await conn.execute("STOP REPLICA")


async def stop_io_thread(conn: Connection) -> None:
    """STOP REPLICA IO_THREAD: receive nothing more, keep applying what was received."""
    await conn.execute("STOP REPLICA IO_THREAD")


async def reset_replica_all(conn: Connection) -> None:
    """Forget the replication source entirely (:func:`stop_replica`; RESET REPLICA ALL)."""
    await stop_replica(conn)
    await conn.execute("RESET REPLICA ALL")


async def wait_for_gtid(conn: Connection, gtids: GtidSet, *, timeout: float) -> bool:  # noqa: ASYNC109
    """Wait up to ``timeout`` s until ``gtids`` are executed; True when they are."""
    if not gtids:
        return True
    row = await conn.query_one(
        "SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s) AS r",
        (str(gtids), max(float(timeout), 0.0)),
        timeout=timeout + 5.0,
    )
    return row is not None and int(row["r"]) == 0


# --- connections -------------------------------------------------------------------------------
PROCESSLIST_SQL = (
    "SELECT ID, USER, HOST, COMMAND, INFO FROM performance_schema.processlist WHERE ID <> CONNECTION_ID()"
)
"""Every other connection of the server, as :func:`kill_connections` and :func:`runs` read it."""


def runs(rows: Sequence[Mapping[str, Any]], prefix: str) -> bool:
    """Whether one of ``rows`` (read with :data:`PROCESSLIST_SQL`) runs a statement whose text
    starts with ``prefix``."""
    return any(r["COMMAND"] == "Query" and str(r["INFO"] or "").startswith(prefix) for r in rows)


async def kill_connections(
    conn: Connection,
    *,
    spare_users: Collection[str],
    rows: Sequence[Mapping[str, Any]] | None = None,
    dump_threads: bool = False,
    done: set[int] | None = None,
) -> int:
    """Kill every client connection but ours, the server's own threads, local (socket) ones and
    those of ``spare_users`` (with ``dump_threads``, the binlog dump threads too, whoever runs
    them: the replicas' connections); returns how many were killed. ``rows``: the connections
    as just read with :data:`PROCESSLIST_SQL` over ``conn`` (else they are read here).
    ``done``: ids killed before (a killed session may linger a while), skipped and added to.
    """
    if rows is None:
        rows = await conn.query(PROCESSLIST_SQL)
    spared = set(spare_users) | _INTERNAL_USERS
    killed = 0
    for r in rows:
        user = str(r["USER"] or "")
        host = str(r["HOST"] or "")
        command = str(r["COMMAND"] or "")
        dump = dump_threads and command.startswith("Binlog Dump")
        if not dump and (user in spared or not host or host == "localhost" or command == "Daemon"):
            continue
        ident = int(r["ID"])
        if done is not None:
            if ident in done:
                continue
            done.add(ident)
        try:
            await conn.execute("KILL CONNECTION %s", (ident,))
        except SQLError as e:
            if e.code != _ER_NO_SUCH_THREAD:
                raise
            continue
        killed += 1
    if killed:
        log.info("killed connections", server=conn.endpoint.address, count=killed)
    return killed


async def release_until_read_only(
    conn: Connection,
    ro: asyncio.Future[Any],
    *,
    spare_users: Collection[str],
    poll: float,
) -> None:
    """While ``ro`` (:func:`set_read_only` on another connection) waits: kill the clients and the
    binlog dump threads over ``conn`` (the clients of ``spare_users`` spared), and once the
    read-only statement is seen waiting, release the commits that wait for semi-sync
    acknowledgements; the connections are read again every ``poll`` seconds. For a server being
    fenced: it is not (or no longer) the primary.

    What holds read-only back is a running write or a commit that waits for acknowledgements no
    replica will send (a former primary). Measured on MySQL 9.7:

    - ``KILL CONNECTION`` shuts the client's socket (it never sees its commit acknowledged) but
      leaves a commit that waits for acknowledgements waiting (MOCO issue #813);
    - ``rpl_semi_sync_source_wait_no_replica = OFF`` releases it within a millisecond once the
      server has no semi-sync replica left (its dump threads are killed here for that), whereas
      ``rpl_semi_sync_source_enabled = OFF`` takes about a second when replicas were connected
      (the server stops its acknowledgement receiver holding the lock of the global variables,
      which the read-only statement needs too);
    - released before its client is killed, the commit is acknowledged: hence kill, then release.

    The pending read-only request keeps new writes out meanwhile. ``wait_no_replica`` is set ON
    again once read-only is in place (:func:`configure_semisync_source` also sees to it on every
    primary: off, a primary whose replicas left would acknowledge commits nobody has).
    """
    released = False
    killed: set[int] = set()
    try:
        while not ro.done():
            rows = await conn.query(PROCESSLIST_SQL)
            await kill_connections(conn, spare_users=spare_users, rows=rows, dump_threads=True, done=killed)
            if not released and runs(rows, SUPER_READ_ONLY_SQL):
                log.warning(
                    "read-only waits; releasing commits that wait for acknowledgements",
                    server=conn.endpoint.address,
                )
                await conn.execute(f"SET GLOBAL {_WAIT_NO_REPLICA} = OFF")
                released = True
            await asyncio.wait({ro}, timeout=poll)
    finally:
        if released and ro.done() and not conn.closed:
            try:
                await conn.execute(f"SET GLOBAL {_WAIT_NO_REPLICA} = ON")
            except MySQLError as e:  # configure_semisync_source sees to it on a primary
                log.warning("wait_no_replica not restored", server=conn.endpoint.address, error=str(e))


# --- TLS ---------------------------------------------------------------------------------------
#: the TLS channel of the admin port (``admin_ssl_*``); the SQL port's is ``mysql_main``
ADMIN_TLS_CHANNEL: Final = "mysql_admin"


async def reload_tls(conn: Connection) -> None:
    """Have mysqld read its certificate, key and CA files again, on the SQL port and on the admin
    port (``ALTER INSTANCE RELOAD TLS [FOR CHANNEL mysql_admin]``): new connections get the new
    certificate, open ones keep theirs, nothing restarts. Files that do not load raise
    :class:`SQLError` and leave the channel serving what it served (MySQL rolls back on error).
    Idempotent. Needs CONNECTION_ADMIN."""
    await conn.execute("ALTER INSTANCE RELOAD TLS")
    await conn.execute(f"ALTER INSTANCE RELOAD TLS FOR CHANNEL {ADMIN_TLS_CHANNEL}")


# --- plugins and binary logs -------------------------------------------------------------------
async def install_plugins(conn: Connection) -> None:
    """Install semisync_source, semisync_replica and clone unless installed.

    INSTALL PLUGIN writes to mysql.plugin, which super_read_only forbids: if it is on, it is
    lifted for the installation (read_only stays on for ordinary users) and restored after.
    """
    rows = await conn.query(
        "SELECT PLUGIN_NAME FROM information_schema.plugins WHERE PLUGIN_NAME IN ({})".format(
            ", ".join(["%s"] * len(PLUGINS))
        ),
        tuple(PLUGINS),
    )
    missing = [n for n in PLUGINS if n not in {str(r["PLUGIN_NAME"]) for r in rows}]
    if not missing:
        return
    sro = _on((await _global_vars(conn, "super_read_only")).get("super_read_only"))
    if sro:
        await conn.execute("SET GLOBAL super_read_only = OFF")
    try:
        for name in missing:
            try:
                await conn.execute(f"INSTALL PLUGIN {name} SONAME %s", (PLUGINS[name],))
            except SQLError as e:
                if e.code != _ER_FUNCTION_EXISTS:
                    raise
    finally:
        if sro:
            await conn.execute("SET GLOBAL super_read_only = ON")
    log.info("plugins installed", server=conn.endpoint.address, plugins=missing)


async def reset_binary_logs_and_gtids(conn: Connection) -> None:
    """Delete every binary log and empty gtid_executed / gtid_purged (RESET BINARY LOGS AND GTIDS)."""
    await conn.execute("RESET BINARY LOGS AND GTIDS")
