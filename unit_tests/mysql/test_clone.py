"""CLONE through the mysql layer: an empty instance gets the donor's data and restarts under the launcher."""

from __future__ import annotations

import time

import pytest

from moco.mysql import ops
from moco.mysql.conn import connect
from moco.mysql.errors import CloneFailed
from moco.mysql.status import get_status
from unit_tests.fixtures.mysqld import MysqldFactory
from unit_tests.mysql.helpers import make_table

pytestmark = pytest.mark.mysql


async def test_clone_brings_the_donors_data(mysqld_factory: MysqldFactory) -> None:
    donor, recipient = await mysqld_factory(2)
    async with await connect(donor.endpoint()) as d:
        await ops.install_plugins(d)
        await ops.set_writable(d)
        await make_table(d, rows=20)
        dst = await get_status(d)
    async with await connect(recipient.endpoint()) as r:
        await ops.install_plugins(r)
        rst = await get_status(r)
        assert rst.gtid_executed.is_empty()
        own_uuid = rst.server_uuid
    r = await connect(recipient.endpoint())
    t0 = time.monotonic()
    result = await ops.clone_from(
        r,
        donor_host=donor.host,
        donor_port=donor.port,
        user=donor.user,
        password=donor.password,
        timeout=120,
    )
    assert time.monotonic() - t0 < 120
    assert r.closed
    assert result.state == "Completed"
    assert result.error_no == 0
    assert recipient.restarts == 1  # the launcher restarted mysqld after exit 16
    async with await connect(recipient.endpoint()) as r2:
        st = await get_status(r2)
        assert st.gtid_executed == dst.gtid_executed
        assert st.server_uuid == own_uuid  # auto.cnf is not cloned
        assert st.clone is not None
        assert st.clone.state == "Completed"
        assert st.super_read_only
        assert await r2.query("SELECT COUNT(*) AS n FROM app.t") == [{"n": 20}]


async def test_clone_failure_is_reported(mysqld_factory: MysqldFactory) -> None:
    donor, recipient = await mysqld_factory(2)
    for m in (donor, recipient):
        async with await connect(m.endpoint()) as c:
            await ops.install_plugins(c)
    r = await connect(recipient.endpoint())
    t0 = time.monotonic()
    with pytest.raises(CloneFailed) as e:
        await ops.clone_from(
            r, donor_host=donor.host, donor_port=donor.port, user=donor.user, password="wrong", timeout=30
        )
    assert time.monotonic() - t0 < 30
    assert e.value.code != 0
    assert "wrong" not in str(e.value)
    assert recipient.restarts == 0
    async with await connect(recipient.endpoint()) as c:
        st = await get_status(c)
        assert st.clone is not None
        assert st.clone.state == "Failed"
