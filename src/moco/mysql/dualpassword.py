"""MySQL dual passwords on one mysqld: what a credential rotation does to each instance.

``ALTER USER u IDENTIFIED BY 'new' RETAIN CURRENT PASSWORD`` makes ``new`` the primary password
and keeps the old one as the secondary: both authenticate. ``ALTER USER u DISCARD OLD PASSWORD``
drops the secondary. A user has one secondary slot: a second RETAIN would push the *new*
password into it and lose the old one, so a RETAIN is only ever run on a user that has no
secondary yet (:func:`has_dual_password`), which makes :func:`retain_current_password`
idempotent across retries and crashes.

Invariants:

- Every ``ALTER USER`` runs with ``sql_log_bin = 0`` (session): it reaches no binary log, so no
  replica of this instance and no cluster that replicates from it receives it, and it makes no
  GTID (no errant transaction on a replica). The caller runs it on every instance itself.
- On an instance with ``super_read_only`` the statement runs inside :func:`writes_allowed`, which
  turns it off for the statement and back on only where ``read_only`` is still on: an instance
  made primary meanwhile by a switchover is not made read-only again.
- Passwords are bound statement arguments; none is ever read back, logged or put in a message
  (:func:`replication_password_is` compares on the server and answers a boolean).
- Every statement runs under the connection's timeouts (:mod:`moco.mysql.conn`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from moco.log import get_logger
from moco.mysql.conn import Connection
from moco.mysql.status import get_replica_status

log = get_logger("moco.mysql.dualpassword")

#: The host part of every moco user.
USER_HOST: Final = "%"


@asynccontextmanager
async def writes_allowed(conn: Connection) -> AsyncIterator[None]:
    """Run the body with ``sql_log_bin = 0`` and, on a ``super_read_only`` instance, with it off.

    ``super_read_only`` is restored afterwards as ``read_only`` says then (see the module's
    invariants); if the restore itself fails, the clustering loop sets it again on its next pass
    over a replica.
    """
    await conn.execute("SET SESSION sql_log_bin = 0")
    row = await conn.query_one("SELECT @@global.super_read_only AS sro")
    was_super_read_only = row is not None and int(row["sro"]) == 1
    if was_super_read_only:
        await conn.execute("SET GLOBAL super_read_only = OFF")
    try:
        yield
    finally:
        if was_super_read_only and not conn.closed:
            await conn.execute("SET GLOBAL super_read_only = IF(@@global.read_only, 1, 0)")


async def has_dual_password(conn: Connection, user: str) -> bool:
    """Whether ``user@'%'`` holds a secondary password (``additional_password`` in its attributes).

    A missing user has none.
    """
    row = await conn.query_one(
        "SELECT COALESCE(JSON_CONTAINS_PATH(User_attributes, 'one', '$.additional_password'), 0) AS d"
        " FROM mysql.user WHERE User = %s AND Host = %s",
        (user, USER_HOST),
    )
    return row is not None and int(row["d"]) == 1


async def users_with_dual_password(conn: Connection, users: tuple[str, ...]) -> list[str]:
    """Those of ``users`` that hold a secondary password, in the given order."""
    return [u for u in users if await has_dual_password(conn, u)]


async def retain_current_password(conn: Connection, user: str, new_password: str) -> bool:
    """Make ``new_password`` the primary password of ``user`` and keep the current one as the
    secondary, unless ``user`` holds a secondary already (then nothing is done: the RETAIN of an
    earlier attempt went through). Returns whether the statement was run.

    Call inside :func:`writes_allowed`.
    """
    if await has_dual_password(conn, user):
        return False
    await conn.execute(
        "ALTER USER %s@%s IDENTIFIED BY %s RETAIN CURRENT PASSWORD", (user, USER_HOST, new_password)
    )
    log.info("password retained", server=conn.endpoint.address, user=user)
    return True


async def discard_old_password(conn: Connection, user: str) -> bool:
    """Drop the secondary password of ``user``; returns whether there was one (idempotent).

    Call inside :func:`writes_allowed`.
    """
    if not await has_dual_password(conn, user):
        return False
    await conn.execute("ALTER USER %s@%s DISCARD OLD PASSWORD", (user, USER_HOST))
    log.info("old password discarded", server=conn.endpoint.address, user=user)
    return True


async def replication_password_is(conn: Connection, password: str) -> bool | None:
    """Whether the replica's stored source password is ``password`` (None: no source configured).

    Compared by the server in ``mysql.slave_master_info`` (the default channel), so the stored
    password never leaves mysqld.
    """
    row = await conn.query_one(
        "SELECT User_password = %s AS same FROM mysql.slave_master_info WHERE Channel_name = ''",
        (password,),
    )
    if row is None or row["same"] is None:
        return None
    return int(row["same"]) == 1


async def set_replication_password(conn: Connection, password: str) -> None:
    """Give the replica's source connection ``password``, keeping every other source option.

    Only the receiver is stopped (the applier goes on); it is started again only if it ran, so a
    receiver stopped on purpose (a switchover in progress) stays stopped. The next connection
    of the receiver authenticates with ``password``.
    """
    rs = await get_replica_status(conn)
    if rs is None:
        return
    io_was_running = rs.io_running != "No"
    if io_was_running:
        await conn.execute("STOP REPLICA IO_THREAD")
    await conn.execute("CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = %s", (password,))
    if io_was_running:
        await conn.execute("START REPLICA IO_THREAD")
    log.info("replication password changed", server=conn.endpoint.address, receiver_restarted=io_was_running)
