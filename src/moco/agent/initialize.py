"""Make a running mysqld ready for moco: users, plugins, clean GTIDs, read-only.

Run by the agent when it starts and after every clone. Steps:

1. Connect as ``moco-admin``. If that user does not exist (a fresh data directory, or one
   cloned from an external source), connect with the first bootstrap credential that works:
   the passwordless ``root`` that ``mysqld --initialize-insecure`` plus the init script create
   (``root@localhost`` and ``root@127.0.0.1``), or the ``INIT_USER`` of an external
   source.
2. Create the missing users of :data:`moco.agent.users.USERS` other than ``moco-admin`` and
   repair the grants of the existing ones (what ``SHOW GRANTS`` lacks of their spec, see
   :mod:`moco.agent.users`), with binary logging off for the session (so no GTID is created
   for them) and ``super_read_only`` lifted per statement on a replica; install the plugins
   (semi-sync, clone).
3. A *fresh* instance (passwordless root and an empty ``gtid_executed``, so also one whose
   initialisation was interrupted) that ``moco-admin`` could not log in to gets
   ``RESET BINARY LOGS AND GTIDS``; an instance holding transactions (cloned from an external
   source) keeps its GTIDs, which replication resumes from.
4. Create or repair ``moco-admin``, then drop the passwordless roots if present and leave the
   instance ``super_read_only``.

``moco-admin`` is the operator's account, so its creation is the gate: the operator cannot log
in, and so configures nothing, before the plugins are installed and the binary logs reset. The
operator acts as soon as it can log in (it makes the primary writable and points replicas at
it); a reset after that removed the binary log under a replica's dump thread, which then
stopped on error 1236 at the first write, holding nothing (a failover right after a new
cluster's first writes then found no replica holding data). For the same reason an instance
``moco-admin`` could already log in to is never reset: the operator may be using it.

Invariants: idempotent (a second run executes no write: no user, no plugin, no GTID changes);
the read-only state is restored to what it was unless the operator made the instance writable
meanwhile (fresh instances end ``super_read_only`` when it did not);
passwords never reach a log line.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass

from moco import constants
from moco.agent.errors import InitError
from moco.agent.users import USERS, HeldGrants, parse_grants, plan_users, repair_statements
from moco.log import get_logger
from moco.mysql import ops
from moco.mysql.conn import Connection, Endpoint, connect
from moco.mysql.errors import AccessDenied, MySQLError, SQLError

log = get_logger("moco.agent.initialize")

#: The passwordless roots a fresh instance has (the init script adds the 127.0.0.1 one).
BOOTSTRAP_ROOTS = (("root", "localhost"), ("root", "127.0.0.1"))
#: Every user of moco but the operator's, which the set-up creates last (module docstring).
NOT_THE_OPERATOR = tuple(u.name for u in USERS if u.name != constants.ADMIN_USER)


@dataclass(frozen=True)
class InitResult:
    """What :func:`initialize` did."""

    fresh: bool
    created_users: tuple[str, ...]
    reset_passwords: bool
    repaired_users: tuple[str, ...] = ()


async def existing_users(conn: Connection) -> frozenset[str]:
    """moco's users present as ``'<name>'@'%'``."""
    names = tuple(u.name for u in USERS)
    rows = await conn.query(
        "SELECT User FROM mysql.user WHERE Host = '%%' AND User IN ({})".format(
            ", ".join(["%s"] * len(names))
        ),
        names,
    )
    return frozenset(str(r["User"]) for r in rows)


async def held_grants(conn: Connection, names: frozenset[str]) -> dict[str, HeldGrants]:
    """What each of moco's users in ``names`` holds, read from ``SHOW GRANTS``, and whether it
    must authenticate over TLS (``mysql.user.ssl_type``)."""
    out: dict[str, HeldGrants] = {}
    tls: set[str] = set()
    if names:
        rows = await conn.query(
            "SELECT User FROM mysql.user WHERE Host = '%%' AND ssl_type <> '' AND User IN ({})".format(
                ", ".join(["%s"] * len(names))
            ),
            tuple(sorted(names)),
        )
        tls = {str(r["User"]) for r in rows}
    for name in sorted(names):
        rows = await conn.query("SHOW GRANTS FOR %s@'%%'", (name,))
        held = parse_grants(str(next(iter(r.values()))) for r in rows)
        out[name] = dataclasses.replace(held, tls_required=name in tls)
    return out


async def has_bootstrap_roots(conn: Connection) -> bool:
    """Whether a passwordless root of a fresh instance is still there (initialisation unfinished)."""
    row = await conn.query_one(
        "SELECT COUNT(*) AS n FROM mysql.user WHERE User = 'root' AND Host IN ('localhost', '127.0.0.1')"
        " AND authentication_string = ''"
    )
    return row is not None and int(row["n"]) > 0


#: Turns super_read_only on again after the set-up lifted it, unless the instance was made
#: writable meanwhile: only super_read_only is lifted (read_only stays on, and SUPER users write
#: through it), so read_only off means the operator made the instance its primary in that moment
#: (it logs in as soon as moco-admin exists); turning super_read_only on then made the new
#: primary read-only until the operator's next pass. One statement, so that the state read and
#: the state written are one; the operator's own two statements (super_read_only, then
#: read_only off, which turns super_read_only off too) end writable in any interleaving.
RESTORE_SUPER_READ_ONLY = "SET GLOBAL super_read_only = @@global.read_only"


@contextlib.asynccontextmanager
async def _unlogged_writes(conn: Connection) -> AsyncIterator[bool]:
    """Binary logging off for the session and super_read_only lifted if it was on (yields
    whether it was: pass it as ``lift`` to :func:`_execute_writable`); on the way out
    super_read_only is turned on again by :data:`RESTORE_SUPER_READ_ONLY` and logging back on."""
    row = await conn.query_one("SELECT @@global.super_read_only AS sro")
    if row is None:
        raise InitError("the server did not report super_read_only")
    sro = bool(int(row["sro"]))
    await conn.execute("SET SESSION sql_log_bin = 0")
    try:
        if sro:
            await conn.execute("SET GLOBAL super_read_only = OFF")
        yield sro
    finally:
        if sro:
            await conn.execute(RESTORE_SUPER_READ_ONLY)
        await conn.execute("SET SESSION sql_log_bin = 1")


async def _connect_first(endpoints: Sequence[Endpoint], wait: float) -> tuple[Connection, Endpoint]:
    last: MySQLError | None = None
    for ep in endpoints:
        try:
            return await connect(ep, timeout=wait), ep
        except AccessDenied as e:
            last = e
    raise InitError(f"no credential works on the instance (last: {last})")


@dataclass(frozen=True)
class UsersEnsured:
    """What :func:`ensure_users` changed."""

    created: tuple[str, ...] = ()
    repaired: tuple[str, ...] = ()


async def ensure_users(
    conn: Connection,
    passwords: Mapping[str, str],
    *,
    reset_passwords: bool = False,
    names: Collection[str] | None = None,
) -> UsersEnsured:
    """Create the missing users and repair the grants of the others (binlog off for the session);
    only those in ``names`` when given."""
    have = await held_grants(conn, await existing_users(conn))
    stmts = plan_users(have, passwords, reset_passwords=reset_passwords, names=names)
    if not stmts:
        return UsersEnsured()
    async with _unlogged_writes(conn) as lift:
        await conn.execute("SET GLOBAL partial_revokes = ON")
        for sql, args in stmts:
            try:
                await _execute_writable(conn, sql, args, lift=lift)
            except AccessDenied:
                # Only the root of --initialize holds PROXY WITH GRANT OPTION; the init user of an
                # external source may not: moco works without it, users' proxy set-ups do not.
                if not sql.startswith("GRANT PROXY"):
                    raise
                log.warning("PROXY not granted: the initialising user may not grant it", user=args[0])
    wanted = [u for u in USERS if names is None or u.name in names]
    created = tuple(u.name for u in wanted if u.name not in have)
    repaired = tuple(u.name for u in wanted if u.name in have and repair_statements(u, have[u.name]))
    log.info("users ensured", created=list(created), repaired=list(repaired), reset_existing=reset_passwords)
    return UsersEnsured(created, repaired)


#: ER_OPTION_PREVENTS_STATEMENT: here, super_read_only was turned on again meanwhile.
ER_OPTION_PREVENTS_STATEMENT = 1290
#: How often one statement is retried after super_read_only came back.
READ_ONLY_RETRIES = 20


async def _execute_writable(conn: Connection, sql: str, args: object, *, lift: bool) -> None:
    """Run one statement of the user set-up; when super_read_only came back meanwhile, lift it
    again and retry.

    The operator makes every replica super_read_only whenever it finds one that is not (fencing),
    and it may find this instance in the moment its set-up lifted it. A user created without its
    grants would stay so until the next set-up repairs them (:func:`plan_users`).
    """
    for attempt in range(READ_ONLY_RETRIES + 1):
        try:
            await conn.execute(sql, args)
            return
        except SQLError as e:
            if not lift or e.code != ER_OPTION_PREVENTS_STATEMENT or attempt == READ_ONLY_RETRIES:
                raise
            log.info("super_read_only came back during the user set-up; lifted again", attempt=attempt + 1)
            await conn.execute("SET GLOBAL super_read_only = OFF")


async def initialize(
    admin: Endpoint,
    bootstrap: Sequence[Endpoint],
    passwords: Mapping[str, str],
    *,
    reset_passwords: bool = False,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> InitResult:
    """Initialise the instance; ``admin`` is moco-admin's endpoint, ``bootstrap`` the fallbacks."""
    try:
        conn = await connect(admin, timeout=timeout)
        used = admin
    except AccessDenied:
        conn, used = await _connect_first(bootstrap, timeout)
    reset = reset_passwords or used is not admin
    async with conn:
        roots = await has_bootstrap_roots(conn)
        row = await conn.query_one("SELECT @@global.gtid_executed AS g")
        empty = row is None or not str(row["g"] or "").strip()
        others = await ensure_users(conn, passwords, reset_passwords=reset, names=NOT_THE_OPERATOR)
        for attempt in range(READ_ONLY_RETRIES + 1):  # it lifts super_read_only too: same race
            try:
                await ops.install_plugins(conn)
                break
            except SQLError as e:
                if e.code != ER_OPTION_PREVENTS_STATEMENT or attempt == READ_ONLY_RETRIES:
                    raise
        fresh = roots and empty
        if fresh and used is not admin:  # step 3: nobody but this set-up uses the instance yet
            await _execute_writable(conn, "RESET BINARY LOGS AND GTIDS", None, lift=True)
            # super_read_only again (lifted for the reset) before the operator can log in
            await ops.set_read_only(conn, super_read_only=True)
        # step 4: from here the operator can log in
        operator = await ensure_users(conn, passwords, reset_passwords=reset, names=(constants.ADMIN_USER,))
    if roots:
        async with await connect(admin, timeout=timeout) as conn, _unlogged_writes(conn) as lift:
            for user, host in BOOTSTRAP_ROOTS:
                await _execute_writable(conn, "DROP USER IF EXISTS %s@%s", (user, host), lift=lift)
        log.info("passwordless roots dropped", fresh=fresh)
    return InitResult(
        fresh=fresh,
        created_users=_in_order(others.created + operator.created),
        reset_passwords=used is not admin,
        repaired_users=_in_order(others.repaired + operator.repaired),
    )


def _in_order(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` in the order of :data:`moco.agent.users.USERS`."""
    return tuple(u.name for u in USERS if u.name in names)
