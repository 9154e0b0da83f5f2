"""gather() against real mysqld when one probe fails in an unexpected way (mysql tier)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from moco import constants
from moco.clustering import gather as gather_mod
from moco.clustering.memory import make_pods
from moco.clustering.types import ClusterSpecView
from moco.mysql.conn import Connection, connect
from moco.mysql.status import InstanceStatus, get_status
from moco.testing.mysqld import MysqldGround

from ..fixtures.clustering import CREDS, FAST, new_instances

pytestmark = pytest.mark.mysql


async def admin_sessions(m: Any) -> int:
    async with await connect(m.admin_endpoint()) as c:
        rows = await c.query(
            "SELECT COUNT(*) AS n FROM performance_schema.processlist"
            " WHERE USER = %s AND ID <> CONNECTION_ID()",
            (constants.ADMIN_USER,),
        )
    return int(rows[0]["n"])


async def test_one_failing_probe_leaks_no_connection_and_leaves_that_instance_unknown(
    mysqld_ground: MysqldGround, monkeypatch: pytest.MonkeyPatch
) -> None:
    ms = await new_instances(mysqld_ground, 3)
    try:
        bad_port = ms[2].admin_port

        async def flaky(conn: Connection) -> InstanceStatus:
            if conn.endpoint.port == bad_port:
                raise RuntimeError("unexpected output")
            return await get_status(conn)

        monkeypatch.setattr(gather_mod, "get_status", flaky)
        cluster = ClusterSpecView(name="g", namespace="default", replicas=3)
        g = await gather_mod.gather(cluster, make_pods("g", ms), CREDS, FAST)
        try:
            assert g.status.instances[0] is not None
            assert g.status.instances[1] is not None
            assert g.status.instances[2] is None
            assert 2 in g.status.unreadable
        finally:
            await g.close()
        for m in ms:
            assert await admin_sessions(m) == 0, f"{m.port}: a connection of the gather stayed open"
    finally:
        for m in ms:
            mysqld_ground.discard(m)


@pytest.mark.parametrize("silent", [False, True], ids=["full-tries", "silent-one-try"])
async def test_a_connection_lost_as_mysqld_dies_is_tried_again_and_the_refusal_counts(
    mysqld_ground: MysqldGround, monkeypatch: pytest.MonkeyPatch, silent: bool
) -> None:
    """A probe whose connection answered and was then lost (mysqld killed while its status was
    read) says nothing about why: it is tried again at once, and the refused reconnect makes the
    probe a refusal (the faster failover evidence), not a silence that needs the longer span."""
    (m,) = await new_instances(mysqld_ground, 1)
    killed = False

    async def dies_while_read(conn: Connection) -> InstanceStatus:
        nonlocal killed
        if not killed:
            killed = True
            m.kill()
        return await get_status(conn)

    monkeypatch.setattr(gather_mod, "get_status", dies_while_read)
    try:
        (pod,) = make_pods("c", [m])
        res = await gather_mod.probe(pod, CREDS, FAST, silent=silent)
    finally:
        await asyncio.to_thread(mysqld_ground.discard, m)
    assert killed
    assert isinstance(res, gather_mod.NoAnswer), res
    assert res.refused, "the reconnect was refused: nothing listens where mysqld was"
