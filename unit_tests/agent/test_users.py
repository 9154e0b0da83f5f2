"""moco's users: the plan of statements, the repair of grants (rules 1-5), passwords from the environment."""

from __future__ import annotations

import pytest

from moco import constants
from moco.agent.errors import ConfigError
from moco.agent.users import (
    USERS,
    HeldGrants,
    UserSpec,
    create_statements,
    parse_grants,
    passwords_from_env,
    plan_users,
    repair_statements,
)
from moco.constants import PASSWORD_KEYS

PASSWORDS = {u.name: f"pw-{i}" for i, u in enumerate(USERS)}
SPEC = {u.name: u for u in USERS}


def held_as_created(user: UserSpec) -> HeldGrants:
    """What a user created by :func:`create_statements` holds."""
    privs = frozenset(user.privileges)
    return HeldGrants(
        global_privileges=privs,
        grantable=privs if user.with_grant_option else frozenset(),
        revoked=tuple((t, frozenset(p)) for t, p in user.revokes),
        tls_required=user.require_ssl,
    )


AS_CREATED = {u.name: held_as_created(u) for u in USERS}


def test_every_user_of_moco_is_created_in_order() -> None:
    assert tuple(u.name for u in USERS) == constants.ALL_USERS
    stmts = plan_users({}, PASSWORDS)
    creates = [args[0] for sql, args in stmts if sql.startswith("CREATE USER")]
    assert creates == list(constants.ALL_USERS)


def test_nothing_to_do_when_all_exist_with_their_grants() -> None:
    assert plan_users(AS_CREATED, PASSWORDS) == []


def test_reset_passwords_of_existing_users() -> None:
    stmts = plan_users(
        {constants.ADMIN_USER: AS_CREATED[constants.ADMIN_USER]}, PASSWORDS, reset_passwords=True
    )
    assert stmts[0] == ("ALTER USER %s@'%%' IDENTIFIED BY %s", (constants.ADMIN_USER, "pw-0"))
    assert sum(sql.startswith("CREATE USER") for sql, _ in stmts) == len(USERS) - 1


def test_password_is_bound_never_inline() -> None:
    for user in USERS:
        for sql, args in create_statements(user, "s3cret'"):
            assert "s3cret" not in sql
            assert args[0] == user.name


def test_admin_and_writable_grants() -> None:
    admin = {u.name: u for u in USERS}[constants.ADMIN_USER]
    sqls = [sql for sql, _ in create_statements(admin, "x")]
    assert sqls[1] == "GRANT ALL ON *.* TO %s@'%%' WITH GRANT OPTION"
    assert "GRANT PROXY ON ''@'' TO %s@'%%' WITH GRANT OPTION" in sqls
    writable = {u.name: u for u in USERS}[constants.WRITABLE_USER]
    assert any(
        sql.startswith("REVOKE") and "ON mysql.*" in sql for sql, _ in create_statements(writable, "x")
    )


def test_passwords_from_env() -> None:
    env = {key: f"p-{user}" for user, key in PASSWORD_KEYS.items()}
    assert passwords_from_env(env)[constants.AGENT_USER] == f"p-{constants.AGENT_USER}"
    del env["AGENT_PASSWORD"]
    with pytest.raises(ConfigError, match="AGENT_PASSWORD"):
        passwords_from_env(env)


# SHOW GRANTS of mysqld 9.7 for users moco created (lines as the server prints them).
EXPORTER_OLD = ["GRANT SELECT, PROCESS, REPLICATION CLIENT ON *.* TO `moco-exporter`@`%`"]
AGENT_LINES = [
    "GRANT SELECT, RELOAD, REPLICATION CLIENT ON *.* TO `moco-agent`@`%`",
    "GRANT BINLOG_ADMIN,CLONE_ADMIN,SERVICE_CONNECTION_ADMIN,SYSTEM_VARIABLES_ADMIN"
    " ON *.* TO `moco-agent`@`%`",
]
WRITABLE_LINES = [
    "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, PROCESS, REFERENCES, INDEX, ALTER, SHOW DATABASES,"
    " CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW,"
    " SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER, CREATE ROLE, DROP ROLE ON *.*"
    " TO `moco-writable`@`%` WITH GRANT OPTION",
    "REVOKE INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, CREATE TEMPORARY TABLES, LOCK TABLES,"
    " EXECUTE, CREATE VIEW, CREATE ROUTINE, EVENT, TRIGGER ON `mysql`.* FROM `moco-writable`@`%`",
]


def test_parse_grants_of_static_dynamic_and_partial_revokes() -> None:
    agent = parse_grants(AGENT_LINES)
    assert agent.global_privileges == frozenset(SPEC[constants.AGENT_USER].privileges)
    assert agent.grantable == frozenset()
    writable = parse_grants(WRITABLE_LINES)
    assert writable.grantable == frozenset(SPEC[constants.WRITABLE_USER].privileges)
    assert writable.revoked_on("mysql.*") == frozenset(SPEC[constants.WRITABLE_USER].revokes[0][1])
    ignored = parse_grants(
        [
            "GRANT USAGE ON *.* TO `u`@`%`",
            "GRANT SELECT ON `app`.* TO `u`@`%`",
            "GRANT SELECT (`a`, `b`) ON `app`.`t` TO `u`@`%`",
            "GRANT PROXY ON ``@`` TO `u`@`%` WITH GRANT OPTION",
            "GRANT `role1`@`%` TO `u`@`%`",
        ]
    )
    assert ignored == HeldGrants()


def _held(lines: list[str]) -> HeldGrants:
    return parse_grants(lines)


REPAIRS = [
    # (rule, user, what it holds, statements expected)
    ("1: as created, nothing", constants.AGENT_USER, _held(AGENT_LINES), []),
    (
        "1: the exporter of an older moco gets REPLICATION SLAVE",
        constants.EXPORTER_USER,
        _held(EXPORTER_OLD),
        [("GRANT REPLICATION SLAVE ON *.* TO %s@'%%'", (constants.EXPORTER_USER,))],
    ),
    (
        "1: a user created without its grants gets them all, in the spec's order",
        constants.READONLY_USER,
        _held(["GRANT USAGE ON *.* TO `moco-readonly`@`%`"]),
        [
            (
                "GRANT PROCESS, REPLICATION CLIENT, REPLICATION SLAVE, SELECT, SHOW DATABASES, SHOW VIEW"
                " ON *.* TO %s@'%%'",
                (constants.READONLY_USER,),
            )
        ],
    ),
    (
        "1: a dynamic privilege missing",
        constants.AGENT_USER,
        _held(AGENT_LINES[:1]),
        [
            (
                "GRANT BINLOG_ADMIN, CLONE_ADMIN, SERVICE_CONNECTION_ADMIN, SYSTEM_VARIABLES_ADMIN"
                " ON *.* TO %s@'%%'",
                (constants.AGENT_USER,),
            )
        ],
    ),
    (
        "1+2: held without the grant option: granted again with it, and revoked again on mysql.*",
        constants.WRITABLE_USER,
        _held([WRITABLE_LINES[0].removesuffix(" WITH GRANT OPTION"), WRITABLE_LINES[1]]),
        [
            (
                f"GRANT {', '.join(SPEC[constants.WRITABLE_USER].privileges)}"
                " ON *.* TO %s@'%%' WITH GRANT OPTION",
                (constants.WRITABLE_USER,),
            ),
            (
                f"REVOKE {', '.join(SPEC[constants.WRITABLE_USER].revokes[0][1])} ON mysql.* FROM %s@'%%'",
                (constants.WRITABLE_USER,),
            ),
        ],
    ),
    (
        "2: a lost partial revoke is made again, only what is lacking",
        constants.WRITABLE_USER,
        _held([WRITABLE_LINES[0], WRITABLE_LINES[1].replace("INSERT, UPDATE, ", "")]),
        [("REVOKE INSERT, UPDATE ON mysql.* FROM %s@'%%'", (constants.WRITABLE_USER,))],
    ),
    (
        "3: privileges beyond the spec are kept",
        constants.EXPORTER_USER,
        _held(
            [
                "GRANT SELECT, INSERT, PROCESS, REPLICATION SLAVE, REPLICATION CLIENT"
                " ON *.* TO `moco-exporter`@`%`"
            ]
        ),
        [],
    ),
    (
        "4: PROXY is not repaired",
        constants.ADMIN_USER,
        _held(["GRANT SELECT ON *.* TO `moco-admin`@`%`"]),
        [],
    ),
    ("5: ALL is not compared", constants.ADMIN_USER, HeldGrants(), []),
]


@pytest.mark.parametrize(("rule", "name", "held", "expected"), REPAIRS, ids=[r[0] for r in REPAIRS])
def test_repair_statements(
    rule: str, name: str, held: HeldGrants, expected: list[tuple[str, tuple[str, ...]]]
) -> None:
    assert repair_statements(SPEC[name], held) == expected


def test_plan_repairs_existing_users_and_creates_missing_ones() -> None:
    existing = dict(AS_CREATED)
    existing[constants.EXPORTER_USER] = parse_grants(EXPORTER_OLD)
    del existing[constants.READONLY_USER]
    stmts = plan_users(existing, PASSWORDS)
    assert stmts[0] == ("GRANT REPLICATION SLAVE ON *.* TO %s@'%%'", (constants.EXPORTER_USER,))
    assert [args[0] for _, args in stmts[1:]] == [constants.READONLY_USER] * 2
    assert stmts[1][0].startswith("CREATE USER")


def test_only_the_replication_user_requires_tls() -> None:
    """Rule 6: moco-repl is created with REQUIRE SSL and altered so when it may go without."""
    assert [u.name for u in USERS if u.require_ssl] == [constants.REPLICATION_USER]
    creates = {args[0]: sql for sql, args in plan_users({}, PASSWORDS) if sql.startswith("CREATE USER")}
    assert creates[constants.REPLICATION_USER].endswith(" REQUIRE SSL")
    assert not any(
        sql.endswith("REQUIRE SSL") for name, sql in creates.items() if name != constants.REPLICATION_USER
    )
    older = dict(AS_CREATED)
    older[constants.REPLICATION_USER] = held_as_created(SPEC[constants.REPLICATION_USER])
    older[constants.REPLICATION_USER] = HeldGrants(
        global_privileges=older[constants.REPLICATION_USER].global_privileges, tls_required=False
    )
    assert plan_users(older, PASSWORDS) == [("ALTER USER %s@'%%' REQUIRE SSL", (constants.REPLICATION_USER,))]


def test_only_the_named_users_are_planned() -> None:
    """The set-up creates the operator's account last (moco.agent.initialize, step 4)."""
    others = tuple(n for n in constants.ALL_USERS if n != constants.ADMIN_USER)
    creates = [args[0] for sql, args in plan_users({}, PASSWORDS, names=others) if sql.startswith("CREATE")]
    assert creates == list(others)
    only = plan_users({}, PASSWORDS, names=(constants.ADMIN_USER,))
    assert {args[0] for _, args in only} == {constants.ADMIN_USER}
    assert plan_users(AS_CREATED, PASSWORDS, names=others) == []
