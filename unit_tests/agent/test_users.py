"""moco's users: the plan of statements, passwords from the environment."""

from __future__ import annotations

import pytest

from moco import constants
from moco.agent.errors import ConfigError
from moco.agent.users import USERS, create_statements, passwords_from_env, plan_users
from moco.constants import PASSWORD_KEYS

PASSWORDS = {u.name: f"pw-{i}" for i, u in enumerate(USERS)}


def test_every_user_of_moco_is_created_in_order() -> None:
    assert tuple(u.name for u in USERS) == constants.ALL_USERS
    stmts = plan_users(frozenset(), PASSWORDS)
    creates = [args[0] for sql, args in stmts if sql.startswith("CREATE USER")]
    assert creates == list(constants.ALL_USERS)


def test_nothing_to_do_when_all_exist() -> None:
    assert plan_users(frozenset(constants.ALL_USERS), PASSWORDS) == []


def test_reset_passwords_of_existing_users() -> None:
    stmts = plan_users(frozenset({constants.ADMIN_USER}), PASSWORDS, reset_passwords=True)
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
