"""The loop keeps replication between instances encrypted: a replica configured without TLS (by
an older moco, whose replicas used GET_SOURCE_PUBLIC_KEY) is pointed at the primary again, over
TLS, on a following pass (mysql tier)."""

from __future__ import annotations

import asyncio

import pytest

from moco import constants
from moco.mysql import ops
from moco.mysql.conn import Endpoint, connect

from ..fixtures.clustering import CREDS, ClusterFactory

pytestmark = pytest.mark.mysql


async def _ssl_allowed(ep: Endpoint) -> str:
    async with await connect(ep) as c:
        row = await c.query_one(
            "SELECT SSL_ALLOWED AS v FROM performance_schema.replication_connection_configuration"
            " WHERE CHANNEL_NAME = ''"
        )
    return "" if row is None else str(row["v"])


async def test_a_replica_without_tls_is_pointed_again_over_tls(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(2)
    await cg.h.wait_healthy(60)
    assert await _ssl_allowed(cg.admin(1)) == "YES"  # as the loop configures a replica

    primary = cg.ms[0]
    async with await connect(cg.admin(1)) as c:
        await ops.change_source(
            c,
            host=primary.host,
            port=primary.port,
            user=constants.REPLICATION_USER,
            password=CREDS.replication,
            tls=False,
        )
        await ops.start_replica(c)
    assert await _ssl_allowed(cg.admin(1)) == "NO"
    cg.h.proc.wake("test")

    last = ""
    for _ in range(150):  # 15 s: passes run every second or sooner on the loopback config
        last = await _ssl_allowed(cg.admin(1))
        if last == "YES":
            break
        await asyncio.sleep(0.1)
    assert last == "YES", f"replica 1 still has SSL_ALLOWED={last!r} after 15 s"
    await cg.h.wait_healthy(30)
