"""The old primary is fenced before the new one becomes writable (mysql tier).

After a failover the old primary may come back (a partition heals) still writable, with
sessions waiting for semi-sync acknowledgements no replica will send. The pass that makes the
new primary writable must first make every other instance super_read_only, every time, even
when the old primary is hung up on such sessions (MOCO issue #813).
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from moco.clustering import operations
from moco.mysql.conn import Connection, connect
from moco.mysql.errors import MySQLError
from moco.mysql.status import get_status

from ..fixtures.clustering import ClusterFactory

pytestmark = pytest.mark.mysql


async def test_old_primary_hung_on_semisync_acks_is_fenced_before_the_new_primary_is_writable(
    cluster_ground: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    async with await connect(cg.primary_endpoint()) as c:
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE IF NOT EXISTS app.f (id INT PRIMARY KEY)")
        await c.execute("INSERT INTO app.f VALUES (1)")
    await cg.h.wait_healthy(30)
    await cg.h.stop()
    # a failover happened while instance 0 was cut off: the replicas stopped receiving from it
    # and the status names instance 1; instance 0 is still writable with semi-sync on
    for i in (1, 2):
        async with await connect(cg.admin(i)) as c:
            await c.execute("STOP REPLICA IO_THREAD")
    hung = await connect(cg.app_endpoint(0), query_timeout=120)
    commit = asyncio.ensure_future(hung.execute("INSERT INTO app.f VALUES (2)"))
    async with await connect(cg.admin(0)) as c:
        for _ in range(100):
            st = await get_status(c)
            if st.semi_sync_source_wait_sessions > 0:
                break
            await asyncio.sleep(0.05)
    assert st.semi_sync_source_wait_sessions > 0, "no session waits for an acknowledgement"
    assert not st.read_only
    cg.h.kube.status.current_primary_index = 1

    seen: list[tuple[int, bool]] = []
    real = operations.ops.set_writable

    async def spy(conn: Connection) -> None:
        for i in (0, 2):
            async with await connect(cg.admin(i), timeout=2.0) as c:
                row = await c.query_one("SELECT @@super_read_only AS sro")
            assert row is not None
            seen.append((i, bool(int(row["sro"]))))
        await real(conn)

    monkeypatch.setattr(operations.ops, "set_writable", spy)
    try:
        cg.h.start()
        await cg.h.wait_for(lambda: len(seen) >= 2, 60, "the new primary made writable")
        await cg.h.wait_for(commit.done, 30, "the hung session released")
    finally:
        commit.cancel()
        with contextlib.suppress(BaseException):
            await commit
        await hung.close()
    assert seen[:2] == [(0, True), (2, True)], f"writable instances when the new primary opened: {seen}"
    # the hung commit was never acknowledged to its client
    with pytest.raises(MySQLError):
        commit.result()
    async with await connect(cg.admin(0)) as c:
        st = await get_status(c)
    assert st.super_read_only


async def test_stale_demote_annotation_on_a_replica_is_removed(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    # a switchover that stopped after its status write leaves the annotation on a replica
    cg.h.kube.set_pod(1, demote=True)
    cg.h.proc.wake("pod-annotated")
    await cg.h.wait_for(lambda: not cg.h.kube.pod(1).demote, 30, "annotation removed")
    await cg.h.wait_healthy(30)
    assert cg.h.primary == 0
    assert "SwitchOver" not in cg.h.kube.reasons()
