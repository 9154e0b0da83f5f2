"""The MySQL users moco needs, with MOCO's privileges, and the statements that create them.

Every user is ``'<name>'@'%'``. A missing user is created with its grants. An existing user keeps
its password unless ``reset_passwords`` asks for it to be set again (what an instance cloned from
an external source needs), and its grants are repaired by :func:`repair_statements`, whose rules,
in order, are:

1. a global privilege of the spec that the user does not hold on ``*.*`` (or holds without the
   grant option the spec gives) is granted, all such privileges in one ``GRANT``: a user created
   by an older moco gets what moco gives now, one created without its grants (an interrupted
   set-up) gets them all;
2. a partial revoke of the spec that the user lacks is made again, after rule 1's grant; so is
   every one of a privilege rule 1 grants (again, with the grant option): the restriction then
   holds whatever the grant did to it (on mysqld 9.7 the REVOKE of a restriction still in place
   is accepted and changes nothing);
3. nothing else is revoked: moco never withdrew a privilege it granted, so a privilege beyond
   the spec was granted by someone else, deliberately, and is theirs to keep;
4. ``PROXY`` is not repaired: only the root of ``--initialize`` can grant it (moco-admin, which
   runs the repair, holds no grant option on it), and moco does not need it;
5. ``ALL`` (moco-admin's) is not compared: SHOW GRANTS spells it as the list of what the server
   has, which grows with its version, and moco-admin runs the repair: no user can grant itself a
   privilege it lacks;
6. a user whose spec requires TLS (``REQUIRE SSL``: ``moco-repl``) and that may authenticate
   without it is altered to require it; a stricter requirement someone set (X509, a subject) is
   kept.

Which users require TLS, and why only ``moco-repl``: its only clients are moco's replicas, which
always connect over TLS (``SOURCE_SSL = 1``; verified against the cluster's CA from reconcile
version 3), and MOCO's external-source path replicates with the user's own account, never this
one, so requiring TLS costs no MOCO manifest anything and guarantees the replication account
never authenticates in clear. ``moco-admin``, ``moco-agent``, ``moco-backup`` and
``moco-exporter`` are used over loopback TCP inside the Pod (which MySQL does not count as a
secure transport) and by the backup Jobs; the application users are the user's (a manifest
written for MOCO must work unchanged), so neither they nor ``require_secure_transport`` require it.

What a user holds is read from ``SHOW GRANTS`` (:func:`parse_grants`), which names static and
dynamic privileges, grant options and partial revokes in one form on every supported server.

Passwords come from the environment of the agent container, under MOCO's variable names
(:data:`PASSWORD_KEYS`); they are never logged and never appear in the text of a statement (they
are bound as parameters).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from moco import constants
from moco.agent.errors import ConfigError
from moco.constants import PASSWORD_KEYS

Statement = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class UserSpec:
    """One user: global privileges, and what is revoked again on some schemas."""

    name: str
    privileges: tuple[str, ...]
    with_grant_option: bool = False
    proxy_admin: bool = False
    revokes: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    #: the account authenticates over TLS only (``REQUIRE SSL``; rule 6)
    require_ssl: bool = False


_WRITABLE_REVOKED_ON_MYSQL = (
    "CREATE",
    "CREATE ROUTINE",
    "CREATE TEMPORARY TABLES",
    "CREATE VIEW",
    "DELETE",
    "DROP",
    "EVENT",
    "EXECUTE",
    "INDEX",
    "INSERT",
    "LOCK TABLES",
    "REFERENCES",
    "TRIGGER",
    "UPDATE",
)

#: moco's users in creation order.
USERS: Final[tuple[UserSpec, ...]] = (
    UserSpec(constants.ADMIN_USER, ("ALL",), with_grant_option=True, proxy_admin=True),
    UserSpec(
        constants.AGENT_USER,
        (
            "BINLOG_ADMIN",
            "CLONE_ADMIN",
            "RELOAD",
            "REPLICATION CLIENT",
            "SELECT",
            "SERVICE_CONNECTION_ADMIN",
            "SYSTEM_VARIABLES_ADMIN",
        ),
    ),
    UserSpec(constants.REPLICATION_USER, ("REPLICATION CLIENT", "REPLICATION SLAVE"), require_ssl=True),
    UserSpec(constants.CLONE_DONOR_USER, ("BACKUP_ADMIN", "SERVICE_CONNECTION_ADMIN")),
    # MOCO's PROCESS, REPLICATION CLIENT, SELECT, and REPLICATION SLAVE: since MySQL 8.4 SHOW
    # REPLICAS needs it, and without it the exporter's slave_hosts collector fails at every
    # scrape. It reads nothing SELECT does not (binary logs hold the same rows).
    UserSpec(constants.EXPORTER_USER, ("PROCESS", "REPLICATION CLIENT", "REPLICATION SLAVE", "SELECT")),
    UserSpec(
        constants.BACKUP_USER,
        (
            "BACKUP_ADMIN",
            "EVENT",
            "RELOAD",
            "SELECT",
            "SHOW VIEW",
            "TRIGGER",
            "REPLICATION CLIENT",
            "REPLICATION SLAVE",
            "SERVICE_CONNECTION_ADMIN",
        ),
    ),
    UserSpec(
        constants.READONLY_USER,
        ("PROCESS", "REPLICATION CLIENT", "REPLICATION SLAVE", "SELECT", "SHOW DATABASES", "SHOW VIEW"),
    ),
    UserSpec(
        constants.WRITABLE_USER,
        (
            "ALTER",
            "ALTER ROUTINE",
            "CREATE",
            "CREATE ROLE",
            "CREATE ROUTINE",
            "CREATE TEMPORARY TABLES",
            "CREATE USER",
            "CREATE VIEW",
            "DELETE",
            "DROP",
            "DROP ROLE",
            "EVENT",
            "EXECUTE",
            "INDEX",
            "INSERT",
            "LOCK TABLES",
            "PROCESS",
            "REFERENCES",
            "REPLICATION CLIENT",
            "REPLICATION SLAVE",
            "SELECT",
            "SHOW DATABASES",
            "SHOW VIEW",
            "TRIGGER",
            "UPDATE",
        ),
        with_grant_option=True,
        revokes=(("mysql.*", _WRITABLE_REVOKED_ON_MYSQL),),
    ),
)


def passwords_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Every user's password from ``env``; raises :class:`ConfigError` naming what is missing."""
    out: dict[str, str] = {}
    missing: list[str] = []
    for user, key in PASSWORD_KEYS.items():
        value = env.get(key, "")
        if not value:
            missing.append(key)
        out[user] = value
    if missing:
        raise ConfigError(f"no password in the environment: {', '.join(missing)}")
    return out


def create_statements(user: UserSpec, password: str) -> list[Statement]:
    """Statements that create ``user`` with its grants (parameters bound, password never inline)."""
    create = "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s" + (
        " REQUIRE SSL" if user.require_ssl else ""
    )
    stmts: list[Statement] = [(create, (user.name, password))]
    grant = f"GRANT {', '.join(user.privileges)} ON *.* TO %s@'%%'"
    if user.with_grant_option:
        grant += " WITH GRANT OPTION"
    stmts.append((grant, (user.name,)))
    if user.proxy_admin:
        stmts.append(("GRANT PROXY ON ''@'' TO %s@'%%' WITH GRANT OPTION", (user.name,)))
    for target, privileges in user.revokes:
        stmts.append((f"REVOKE {', '.join(privileges)} ON {target} FROM %s@'%%'", (user.name,)))
    return stmts


def reset_password_statement(user: UserSpec, password: str) -> Statement:
    """Set ``user``'s password again."""
    return ("ALTER USER %s@'%%' IDENTIFIED BY %s", (user.name, password))


#: How a spec says every privilege of the server (rule 5).
_ALL = "ALL"
_GRANT_GLOBAL = re.compile(r"^GRANT (?P<privs>.+) ON \*\.\* TO \S+@\S+(?P<option> WITH GRANT OPTION)?$")
_REVOKE_SCHEMA = re.compile(r"^REVOKE (?P<privs>.+) ON `(?P<schema>(?:[^`]|``)+)`\.\* FROM \S+@\S+$")


@dataclass(frozen=True)
class HeldGrants:
    """What one user holds, as far as a :class:`UserSpec` speaks of it.

    ``global_privileges`` are those on ``*.*``, ``grantable`` those of them held with the grant
    option, and ``revoked`` the partial revokes as ``(target, privileges)``, targets spelled as in
    a spec (``mysql.*``).
    """

    global_privileges: frozenset[str] = frozenset()
    grantable: frozenset[str] = frozenset()
    revoked: tuple[tuple[str, frozenset[str]], ...] = ()
    #: the account authenticates over TLS only (``mysql.user.ssl_type`` is not empty: ``REQUIRE
    #: SSL``, ``X509`` or a subject/issuer/cipher), read apart from SHOW GRANTS
    tls_required: bool = False

    def revoked_on(self, target: str) -> frozenset[str]:
        """The privileges partially revoked on ``target``."""
        return frozenset().union(*(privs for t, privs in self.revoked if t == target))


def _privilege_names(text: str) -> frozenset[str]:
    names = {p.strip().upper() for p in text.split(",")}
    return frozenset(p for p in names if p and p != "USAGE")


def parse_grants(lines: Iterable[str]) -> HeldGrants:
    """:class:`HeldGrants` from the lines of ``SHOW GRANTS FOR <user>``.

    Lines on other levels (schemas, tables, routines), role grants and ``PROXY`` are not
    moco's global privileges and are ignored.
    """
    held: set[str] = set()
    grantable: set[str] = set()
    revoked: dict[str, set[str]] = {}
    for line in lines:
        if m := _GRANT_GLOBAL.match(line.strip()):
            privs = _privilege_names(m["privs"])
            held |= privs
            if m["option"]:
                grantable |= privs
        elif m := _REVOKE_SCHEMA.match(line.strip()):
            target = f"{m['schema'].replace('``', '`')}.*"
            revoked.setdefault(target, set()).update(_privilege_names(m["privs"]))
    return HeldGrants(
        global_privileges=frozenset(held),
        grantable=frozenset(grantable),
        revoked=tuple(sorted((t, frozenset(p)) for t, p in revoked.items())),
    )


def repair_statements(user: UserSpec, held: HeldGrants) -> list[Statement]:
    """The statements that give an existing ``user`` the grants of its spec (the module's rules)."""
    have = held.grantable if user.with_grant_option else held.global_privileges
    missing = [p for p in user.privileges if p != _ALL and p not in have]  # the spec's order: stable text
    stmts: list[Statement] = []
    if missing:  # rule 1
        grant = f"GRANT {', '.join(missing)} ON *.* TO %s@'%%'"
        if user.with_grant_option:
            grant += " WITH GRANT OPTION"
        stmts.append((grant, (user.name,)))
    for target, privileges in user.revokes:  # rule 2
        still = held.revoked_on(target) - set(missing)
        lacking = [p for p in privileges if p not in still]
        if lacking:
            stmts.append((f"REVOKE {', '.join(lacking)} ON {target} FROM %s@'%%'", (user.name,)))
    if user.require_ssl and not held.tls_required:  # rule 6
        stmts.append(("ALTER USER %s@'%%' REQUIRE SSL", (user.name,)))
    return stmts


def plan_users(
    existing: Mapping[str, HeldGrants],
    passwords: Mapping[str, str],
    *,
    reset_passwords: bool = False,
    names: Collection[str] | None = None,
) -> list[Statement]:
    """The statements that bring the instance's users to :data:`USERS` (empty when nothing to do);
    only the users in ``names`` when given.

    ``existing`` holds the users present with what they hold; a missing one is created.
    """
    stmts: list[Statement] = []
    for user in USERS:
        if names is not None and user.name not in names:
            continue
        held = existing.get(user.name)
        if held is None:
            stmts.extend(create_statements(user, passwords[user.name]))
            continue
        if reset_passwords:
            stmts.append(reset_password_statement(user, passwords[user.name]))
        stmts.extend(repair_statements(user, held))
    return stmts
