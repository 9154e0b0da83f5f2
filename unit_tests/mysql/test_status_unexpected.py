"""get_status on unexpected server output (unit tier, a canned connection).

A status that cannot be read completely must raise :class:`IncompleteStatus` (the instance is
"unknown"), never come back with defaults: a missing ``read_only`` row read as writable, or a
missing ``gtid_executed`` row read as "no data", makes a live primary look like it lost its data.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from moco.mysql.conn import Connection
from moco.mysql.errors import MySQLError
from moco.mysql.status import IncompleteStatus, get_status

UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

VARS = {
    "server_uuid": UUID,
    "gtid_executed": f"{UUID}:1-5",
    "gtid_purged": "",
    "read_only": "OFF",
    "super_read_only": "OFF",
    "rpl_semi_sync_source_enabled": "ON",
    "rpl_semi_sync_source_wait_for_replica_count": "1",
    "rpl_semi_sync_source_timeout": "86400000",
    "rpl_semi_sync_replica_enabled": "OFF",
}


class Canned:
    """Answers get_status's four queries from canned rows."""

    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables

    async def query(self, sql: str, *args: Any, **kw: Any) -> list[dict[str, Any]]:
        if "global_variables" in sql:
            rows = [{"kind": "v", "name": k, "value": v} for k, v in self.variables.items()]
            return [*rows, {"kind": "s", "name": "Uptime", "value": "10"}]
        return []


async def status_of(variables: dict[str, str]) -> Any:
    return await get_status(cast(Connection, Canned(variables)))


async def test_complete_output_is_read() -> None:
    st = await status_of(VARS)
    assert not st.read_only
    assert str(st.gtid_executed) == f"{UUID}:1-5"


@pytest.mark.parametrize("missing", ["read_only", "super_read_only", "gtid_executed", "server_uuid"])
async def test_a_missing_variable_row_makes_the_status_incomplete(missing: str) -> None:
    rows = {k: v for k, v in VARS.items() if k != missing}
    with pytest.raises(IncompleteStatus, match=missing):
        await status_of(rows)


@pytest.mark.parametrize("name", ["gtid_executed", "gtid_purged"])
async def test_an_unparsable_gtid_set_makes_the_status_incomplete(name: str) -> None:
    with pytest.raises(IncompleteStatus, match=name):
        await status_of({**VARS, name: "not-a-gtid-set"})


def test_incomplete_status_is_a_mysql_error() -> None:
    # the loop treats it as an instance that could not be read, not as a bug of the pass
    assert issubclass(IncompleteStatus, MySQLError)
