"""Switchover and failover on real mysqld under a continuous write load (mysql tier).

Every test checks with :class:`moco.testing.checker.WriteChecker` that every acknowledged write
is on the new primary and that no two instances were writable at the same moment.
"""

from __future__ import annotations

import asyncio

import pytest

from moco import constants
from moco.clustering.types import ClusterState
from moco.mysql.conn import connect
from moco.mysql.errors import MySQLError
from moco.mysql.status import get_status

from ..fixtures.clustering import ClusterFactory, checker_for, fail_primary, verify_eventually
from .test_metrics import series

pytestmark = pytest.mark.mysql


async def test_switchover_under_write_load(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.5)
        before = len(chk.acks)
        cg.h.kube.set_pod(0, demote=True)
        cg.h.proc.wake("demote")
        await cg.h.wait_for(lambda: cg.h.primary != 0, 30, "switchover")
        await cg.h.wait_healthy(30)
        await asyncio.sleep(0.5)
    assert before > 0
    assert cg.h.primary == 1
    rep = await chk.verify(cg.admin(1))
    assert rep.ok, rep.describe()
    assert chk.samples > 10
    assert chk.acked_after(chk.gaps()[-1].first_new) > 0
    assert [g.new for g in chk.gaps()] == [chk.acks[-1].server_uuid]
    kube = cg.h.kube
    assert not kube.pod(0).demote
    assert kube.pod(0).role == constants.ROLE_REPLICA
    assert kube.pod(1).role == constants.ROLE_PRIMARY
    assert "SwitchOver" in kube.reasons()
    async with await connect(cg.admin(0)) as c:
        st = await get_status(c)
        assert st.super_read_only
        assert not st.semi_sync_source_enabled
        assert st.replica is not None
        assert st.replica.source_port == cg.ms[1].port
    # the old primary and the other replica apply what the new primary took
    for i in (0, 2):
        rep = await verify_eventually(chk, cg.admin(i))
        assert rep.ok, f"instance {i}: {rep.describe()}"
    # and a switchover back works too
    cg.h.kube.set_pod(1, demote=True)
    cg.h.proc.wake("demote")
    await cg.h.wait_for(lambda: cg.h.primary == 0, 30, "switchover back")


async def test_failover_after_sigkill(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.5)
        old = await fail_primary(cg)
        await cg.h.wait_for(lambda: cg.h.primary != old, 30, "failover")
        await cg.h.wait_for(lambda: cg.h.state is ClusterState.DEGRADED, 30, "Degraded")
        await asyncio.sleep(0.5)
    new = cg.h.primary
    rep = await chk.verify(cg.admin(new))
    assert rep.ok, rep.describe()
    assert chk.gaps(), "writes never resumed on the new primary"
    assert "FailOver" in cg.h.kube.reasons()
    assert cg.h.kube.pod(new).role == constants.ROLE_PRIMARY
    # MOCO's metrics, as the controller serves them
    got = series(cg.h.proc.name, cg.h.proc.namespace)
    assert got["moco_cluster_failover_total"] == 1
    assert got["moco_cluster_switchover_total"] == 0
    assert got["moco_cluster_checks_total"] >= 3
    assert (got["moco_cluster_available"], got["moco_cluster_healthy"]) == (1, 0), "Degraded"
    assert 0 < got["moco_cluster_write_unavailable_seconds_sum[failover]"] < 30


async def test_second_failover_before_replicas_retrieved_anything(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(5)
    await cg.h.wait_healthy(60)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.5)
        first = await fail_primary(cg)
        await cg.h.wait_for(lambda: cg.h.primary != first, 30, "first failover")
        # the new primary dies at once: its replicas still point at the dead one
        second = await fail_primary(cg)
        await cg.h.wait_for(lambda: cg.h.primary not in (first, second), 30, "second failover")
        await cg.h.wait_for(lambda: cg.h.state is ClusterState.DEGRADED, 30, "Degraded")
        await asyncio.sleep(0.5)
    third = cg.h.primary
    rep = await chk.verify(cg.admin(third))
    assert rep.ok, rep.describe()
    assert cg.h.kube.reasons().count("FailOver") == 2
    for i in range(5):
        if i not in (first, second, third):
            async with await connect(cg.admin(i)) as c:
                st = await get_status(c)
                assert st.replica is not None
                assert st.replica.source_port == cg.ms[third].port


async def test_switchover_kills_a_transaction_that_holds_read_only_back(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    chk = checker_for(cg)
    await chk.setup()
    # a long-running write keeps SET GLOBAL super_read_only waiting
    blocker = await connect(cg.app_endpoint(0), query_timeout=60)
    stmt = asyncio.ensure_future(
        blocker.execute(
            "INSERT INTO app.moco_checker (seq, server_uuid) SELECT 0, IF(SLEEP(30) = 0, 'blocker', 'x')"
        )
    )
    try:
        await asyncio.sleep(0.3)
        t0 = asyncio.get_running_loop().time()
        cg.h.kube.set_pod(0, demote=True)
        cg.h.proc.wake("demote")
        await cg.h.wait_for(lambda: cg.h.primary == 1, 30, "switchover")
        took = asyncio.get_running_loop().time() - t0
        with pytest.raises(MySQLError):
            await stmt
    finally:
        stmt.cancel()
        await blocker.close()
    kill_after = cg.h.proc.cfg.switchover_kill_after
    assert kill_after <= took < kill_after + 10
    async with await connect(cg.admin(1)) as c:
        rows = await c.query("SELECT COUNT(*) AS n FROM app.moco_checker WHERE seq = 0")
    assert rows[0]["n"] == 0, "the killed transaction was rolled back, not moved"
