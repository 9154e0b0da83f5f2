"""The MySQL users moco needs, with MOCO's privileges, and the statements that create them.

Every user is ``'<name>'@'%'``. A user that exists is left alone (its password and grants are
the operator's business once created) unless ``reset_passwords`` asks for the password to be set
again, which is what an instance cloned from an external source needs.

Passwords come from the environment of the agent container, under MOCO's variable names
(:data:`PASSWORD_KEYS`); they are never logged and never appear in the text of a statement (they
are bound as parameters).
"""

from __future__ import annotations

from collections.abc import Mapping
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
    UserSpec(constants.REPLICATION_USER, ("REPLICATION CLIENT", "REPLICATION SLAVE")),
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
    stmts: list[Statement] = [("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user.name, password))]
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


def plan_users(
    existing: frozenset[str], passwords: Mapping[str, str], *, reset_passwords: bool = False
) -> list[Statement]:
    """The statements that bring the instance's users to :data:`USERS` (empty when nothing to do)."""
    stmts: list[Statement] = []
    for user in USERS:
        if user.name in existing:
            if reset_passwords:
                stmts.append(reset_password_statement(user, passwords[user.name]))
            continue
        stmts.extend(create_statements(user, passwords[user.name]))
    return stmts
