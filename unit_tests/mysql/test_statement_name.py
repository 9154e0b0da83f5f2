"""A timed-out statement is named by its leading keywords, never by a value."""

from __future__ import annotations

import pytest

from moco.mysql.conn import statement_name


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("STOP REPLICA IO_THREAD", "STOP REPLICA IO_THREAD"),
        ("STOP REPLICA", "STOP REPLICA"),
        ("SET GLOBAL rpl_semi_sync_replica_enabled = %s", "SET GLOBAL rpl_semi_sync_replica_enabled"),
        ("CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = %s", "CHANGE REPLICATION SOURCE TO"),
        ("ALTER USER 'moco-admin'@'%' IDENTIFIED BY 'secret'", "ALTER USER"),
        ("SELECT SLEEP(10)", "SELECT"),
        ("  \n select\t1", "select"),
        ("'secret'", "statement"),
        ("", "statement"),
    ],
)
def test_statement_name(sql: str, name: str) -> None:
    assert statement_name(sql) == name
