"""GtidSet against the server: the same text, the same GTID_SUBTRACT / GTID_SUBSET / union."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moco.mysql.conn import Connection, connect
from moco.mysql.gtid import GtidSet
from moco.testing.mysqld import MysqldGround

pytestmark = pytest.mark.mysql

U = [
    "3e11fa47-71ca-11e1-9e33-c80aa9429562",
    "8a94f357-aab4-11df-86ab-c80aa9429562",
    "00000000-0000-0000-0000-0000000000ff",
]
_keys = st.tuples(st.sampled_from(U), st.sampled_from(["", "alpha", "b_2"]))
_intervals = st.tuples(st.integers(1, 60), st.integers(0, 8)).map(lambda t: (t[0], t[0] + t[1]))
_sets = st.dictionaries(_keys, st.lists(_intervals, min_size=1, max_size=4), max_size=5).map(
    GtidSet.from_mapping
)


@pytest.fixture(scope="module")
async def server(mysqld_ground: MysqldGround) -> AsyncIterator[Connection]:
    (m,) = await mysqld_ground.start_instances(1)
    c = await connect(m.endpoint())
    yield c
    await c.close()
    mysqld_ground.discard(m)


async def _server_says(c: Connection, a: GtidSet, b: GtidSet) -> tuple[str, str, bool]:
    row = await c.query_one(
        "SELECT GTID_SUBTRACT(%s, %s) AS sub, GTID_SUBTRACT(CONCAT(%s, ',', %s), '') AS uni,"
        " GTID_SUBSET(%s, %s) AS subset",
        (str(a), str(b), str(a), str(b), str(a), str(b)),
    )
    assert row is not None
    return str(row["sub"]), str(row["uni"]), bool(row["subset"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=_sets, b=_sets)
async def test_algebra_matches_the_server(server: Connection, a: GtidSet, b: GtidSet) -> None:
    sub, uni, subset = await _server_says(server, a, b)
    assert str(a - b) == sub
    assert str(a | b) == uni
    assert (a <= b) == subset


@pytest.mark.parametrize(
    "text",
    [
        f"{U[1]}:5:1-3,{U[0]}:7-9:2",
        f"{U[0]}:1-3:4-6:10",
        f"{U[0].upper()}:1,\n{U[2]}:3-4",
        f"{U[0]}:b_2:1-2:alpha:3,{U[0]}:9",
        f"{U[0]}:ALPHA:1",
    ],
)
async def test_canonical_text_matches_the_server(server: Connection, text: str) -> None:
    row = await server.query_one("SELECT GTID_SUBTRACT(%s, '') AS canon", (text,))
    assert row is not None
    assert str(GtidSet.parse(text)) == row["canon"]
