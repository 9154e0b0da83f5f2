"""The isolation fence against a real 3-instance cluster (mysql tier).

The network cut itself cannot be made on loopback, so the kernel's TCP table is the one thing
given: a file listing the real binlog dump connections (read from the primary's processlist)
as the kernel shows them across a cut (retransmitting) or not. Everything else is real: the
primary, its replicas, a commit hung on semi-sync acknowledgements, and the fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from pathlib import Path

import pytest

from moco.agent.isolation import IsolationPolicy, isolation_loop
from moco.mysql.conn import Connection, Endpoint, connect

from ..fixtures.clustering import ClusterFactory, ClusterGround

pytestmark = pytest.mark.mysql

POLICY = IsolationPolicy(isolation_after=1.0, interval=0.1)


def _hex(ip: str, port: int) -> str:
    return f"{int.from_bytes(ipaddress.IPv4Address(ip).packed[::-1], 'big'):08X}:{port:04X}"


async def write_tcp_table(path: Path, primary: Endpoint, admin: Endpoint, *, retransmits: int) -> int:
    """The primary's dump connections as the kernel would list them; returns how many."""
    async with await connect(admin) as c:
        rows = await c.query(
            "SELECT HOST FROM performance_schema.processlist WHERE COMMAND LIKE 'Binlog Dump%'"
        )
    lines = [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
    ]
    timer = "01" if retransmits else "00"
    for n, r in enumerate(rows):
        ip, _, port = str(r["HOST"]).rpartition(":")
        lines.append(
            f"   {n}: {_hex(primary.host, primary.port)} {_hex(ip, int(port))} 01 00000031:00000000"
            f" {timer}:00000152 {retransmits:08X}   999        0 {n} 2 0 26 4 30 10 -1"
        )
    await asyncio.to_thread(path.write_text, "\n".join(lines) + "\n")
    return len(rows)


async def read_only(ep: Endpoint) -> bool:
    async with await connect(ep, timeout=2.0) as c:
        row = await c.query_one("SELECT @@super_read_only AS sro")
    return row is not None and bool(int(row["sro"]))


async def healthy_cluster_with_a_hung_commit(cg: ClusterGround) -> tuple[Connection, asyncio.Future[int]]:
    await cg.h.wait_healthy(60)
    async with await connect(cg.primary_endpoint()) as c:
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE IF NOT EXISTS app.i (id INT PRIMARY KEY)")
    await cg.h.wait_healthy(30)
    await cg.h.stop()  # the operator is on the other side of the cut
    # The replicas stay connected but cannot acknowledge enough: the next commit hangs, as one
    # sent to a primary cut off from its replicas.
    async with await connect(cg.admin(0)) as c:
        await c.execute("SET GLOBAL rpl_semi_sync_source_wait_for_replica_count = 3")
    hung = await connect(cg.app_endpoint(0), query_timeout=60)
    return hung, asyncio.ensure_future(hung.execute("INSERT INTO app.i VALUES (1)"))


async def test_a_primary_cut_off_from_every_replica_fences_itself(
    cluster_ground: ClusterFactory, tmp_path: Path
) -> None:
    cg = await cluster_ground(3)
    hung, commit = await healthy_cluster_with_a_hung_commit(cg)
    table = tmp_path / "tcp"
    assert await write_tcp_table(table, cg.app_endpoint(0), cg.admin(0), retransmits=4) == 2

    async def admin() -> Connection:
        return await connect(cg.admin(0), timeout=1.0, query_timeout=2.0)

    loop = asyncio.create_task(isolation_loop(admin, POLICY, [table]))
    t0 = time.monotonic()
    try:
        while not await read_only(cg.admin(0)):
            assert time.monotonic() - t0 < 10, "the cut-off primary is still writable"
            await asyncio.sleep(0.05)
        took = time.monotonic() - t0
        assert took >= POLICY.isolation_after  # never before the cut has lasted isolation_after
        # its client was killed and its commit released: never acknowledged
        done, _ = await asyncio.wait({commit}, timeout=10)
        assert done, "the hung commit still waits"
        assert commit.exception() is not None, "the hung commit was acknowledged"
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        commit.cancel()
        with contextlib.suppress(BaseException):
            await commit
        await hung.close()


async def test_a_primary_whose_replicas_acknowledge_stays_writable(
    cluster_ground: ClusterFactory, tmp_path: Path
) -> None:
    cg = await cluster_ground(3)
    hung, commit = await healthy_cluster_with_a_hung_commit(cg)
    table = tmp_path / "tcp"
    # the same connections, acknowledged (a slow replica is not a cut one)
    assert await write_tcp_table(table, cg.app_endpoint(0), cg.admin(0), retransmits=0) == 2

    async def admin() -> Connection:
        return await connect(cg.admin(0), timeout=1.0, query_timeout=2.0)

    loop = asyncio.create_task(isolation_loop(admin, POLICY, [table]))
    try:
        await asyncio.sleep(POLICY.isolation_after * 3)
        assert not await read_only(cg.admin(0))
        assert not commit.done()
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        commit.cancel()
        with contextlib.suppress(BaseException):
            await commit
        await hung.close()
