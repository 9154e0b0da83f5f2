"""Errant fencing, cloning an empty replica, following an external source, restarting everything
(mysql tier, real mysqld, Pods through the in-memory Kubernetes side)."""

from __future__ import annotations

import asyncio

import pytest

from moco import constants
from moco.clustering.interfaces import COND_CLUSTERING_ACTIVE
from moco.clustering.types import ClusterState, Operation
from moco.mysql.conn import connect
from moco.mysql.status import get_status
from moco.testing.mysqld import MysqldGround

from ..fixtures.clustering import (
    APP_PASSWORD,
    APP_USER,
    ClusterFactory,
    checker_for,
    external_source,
    healthy_or_errant_recloned,
    verify_eventually,
)

pytestmark = pytest.mark.mysql


async def test_errant_replica_fenced_and_never_promoted(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.2)
    # a transaction written on replica 1 only: its own server_uuid, unknown to the primary
    async with await connect(cg.admin(1)) as c:
        await c.execute("SET GLOBAL super_read_only = OFF")
        await c.execute("CREATE DATABASE errant")
        await c.execute("SET GLOBAL super_read_only = ON")
    cg.h.proc.wake("test")
    kube = cg.h.kube
    await cg.h.wait_for(lambda: kube.status.errant_replica_list == (1,), 20, "errant detected")
    await cg.h.wait_for(lambda: kube.pod(1).role is None, 20, "role label removed")
    await cg.h.wait_for(lambda: "ErrantReplicaFenced" in kube.reasons(), 20, "fenced")
    async with await connect(cg.admin(1)) as c:
        st = await get_status(c)
        assert st.replica is not None
        assert st.replica.io_running == "No"
    assert kube.status.errant_replicas == 1
    assert cg.h.state is ClusterState.DEGRADED
    # a switchover must skip the errant replica (the lowest ordinal would be 1)
    kube.set_pod(0, demote=True)
    cg.h.proc.wake("demote")
    await cg.h.wait_for(lambda: cg.h.primary != 0, 30, "switchover")
    assert cg.h.primary == 2
    await cg.h.wait_for(
        lambda: cg.h.state is ClusterState.DEGRADED and kube.pod(0).role == constants.ROLE_REPLICA,
        30,
        "settled",
    )
    assert kube.status.errant_replica_list == (1,)
    assert kube.pod(1).role is None
    # the human's remedy (its data and Pod lost): the loop clones it and the cluster is Healthy
    assert await healthy_or_errant_recloned(cg, 1)
    assert kube.status.errant_replica_list == ()
    rep = await verify_eventually(chk, cg.admin(1))
    assert rep.ok, rep.describe()


async def test_empty_replica_is_cloned(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3, start=False)
    missing = cg.h.kube.remove_pod(2)
    cg.h.start()
    await cg.h.wait_for(lambda: cg.h.state is ClusterState.DEGRADED, 60, "Degraded without Pod 2")
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.5)
    assert len(chk.acks) > 10
    # instance 2 has no data at all: it must be cloned, not replicated from scratch
    cg.h.kube.add_pod(missing)
    cg.h.proc.wake("pod-created")
    await cg.h.wait_healthy(120)
    assert "Cloned" in cg.h.kube.reasons()
    assert cg.h.agent.clones == 1
    rep = await chk.verify(cg.admin(2))
    assert rep.ok, rep.describe()


async def test_external_source_followed_then_released(
    cluster_ground: ClusterFactory, mysqld_ground: MysqldGround
) -> None:
    async with external_source(mysqld_ground, rows=2) as (ext, src):
        cg = await cluster_ground(2, replication_source_secret="src", sources={"src": src})
        kube = cg.h.kube
        await cg.h.wait_healthy(120)
        assert kube.reasons().count("InitCloned") == 1
        assert kube.status.cloned
        async with await connect(ext.admin_endpoint()) as c:
            await c.execute("INSERT INTO app.t VALUES (3)")
        for i in range(2):
            ep = cg.ms[i].endpoint(APP_USER, APP_PASSWORD)
            for _ in range(100):
                async with await connect(ep) as c:
                    rows = await c.query("SELECT COUNT(*) AS n FROM app.t")
                if rows[0]["n"] == 3:
                    break
                await asyncio.sleep(0.05)
            assert rows[0]["n"] == 3, f"instance {i} did not get the external write"
        async with await connect(cg.admin(0)) as c:
            st = await get_status(c)
            assert st.super_read_only, "an intermediate primary stays read-only"
            assert not st.semi_sync_source_enabled
            assert st.replica is not None
            assert st.replica.source_port == ext.port
        # release: the primary becomes a normal writable primary with semi-sync
        kube.set_spec(replication_source_secret=None)
        cg.h.proc.wake("spec")
        await cg.h.wait_healthy(60)
        async with await connect(cg.admin(0)) as c:
            st = await get_status(c)
            assert not st.read_only
            assert st.replica is None
            assert st.semi_sync_source_enabled
        async with await connect(cg.ms[0].endpoint(APP_USER, APP_PASSWORD)) as c:
            await c.execute("INSERT INTO app.t VALUES (4)")


async def test_all_instances_restarted_at_once(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.5)
    kube = cg.h.kube
    for i in range(3):
        kube.set_pod(i, ready=False)
    await asyncio.gather(*(cg.kill(i) for i in range(3)))
    cg.h.proc.wake("pods-not-ready")
    # the primary's mysqld is back first: were a replica back while the primary still refused
    # connections, that would be evidence enough to fail over to it (moco.clustering.evidence)
    cg.ms[0].start()
    await cg.ms[0].wait_ready(60)
    for m in cg.ms[1:]:
        m.start()
    await asyncio.gather(*(m.wait_ready(60) for m in cg.ms))
    for i in range(3):
        kube.set_pod(i, ready=True)
    cg.h.proc.wake("pods-ready")
    await cg.h.wait_healthy(60)
    assert cg.h.primary == 0
    assert (ClusterState.INCOMPLETE, Operation.CONFIGURE) in cg.h.proc.last.history
    for i in range(3):
        rep = await chk.verify(cg.admin(i))
        assert rep.ok, f"instance {i}: {rep.describe()}"
    assert len(chk.acks) > 10
    async with chk:
        await asyncio.sleep(0.3)
    assert chk.acks[-1].server_uuid == chk.acks[0].server_uuid


async def test_clustering_stopped_by_annotation(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    kube = cg.h.kube
    kube.set_spec(clustering_stopped=True)
    kube.set_pod(0, demote=True)
    cg.h.proc.wake("annotation")
    await cg.h.wait_for(lambda: not kube.is_true(COND_CLUSTERING_ACTIVE), 10, "ClusteringActive=False")
    await asyncio.sleep(1.5)
    assert cg.h.primary == 0, "no switchover while clustering is stopped"
    assert "ClusteringStopped" in kube.reasons()
    kube.set_spec(clustering_stopped=False)
    cg.h.proc.wake("annotation")
    await cg.h.wait_for(lambda: cg.h.primary == 1, 30, "switchover after restart of clustering")
    assert kube.is_true(COND_CLUSTERING_ACTIVE)


async def test_replica_is_not_repointed_when_the_primary_purged_what_it_needs(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    kube = cg.h.kube
    kube.set_pod(2, ready=False)
    await cg.kill(2)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.3)
    async with await connect(cg.admin(0)) as c:
        await c.execute("FLUSH BINARY LOGS")
        await c.execute("PURGE BINARY LOGS BEFORE NOW(6) + INTERVAL 1 SECOND")
        purged = (await get_status(c)).gtid_purged
    assert purged, "the primary purged nothing"
    cg.ms[2].start()
    await cg.ms[2].wait_ready(60)
    kube.set_pod(2, ready=True)
    cg.h.proc.wake("pod-ready")
    await cg.h.wait_for(
        lambda: "ReplicaUnrecoverable" in kube.reasons(), 20, "unrecoverable replica reported"
    )
    await asyncio.sleep(1.5)  # more passes: reported once, never started
    assert kube.reasons().count("ReplicaUnrecoverable") == 1
    async with await connect(cg.admin(2)) as c:
        st = await get_status(c)
        assert st.replica is not None
        assert st.replica.io_running == "No"
    assert cg.h.state is ClusterState.DEGRADED


async def test_replicas_reconnect_at_once_to_a_restarted_primary(cluster_ground: ClusterFactory) -> None:
    """A primary whose mysqld restarts in place while its Pod shows no container restart keeps
    its role (a restarted container is a crash: see test_crash_evidence_mysql.py); the replicas'
    IO threads, left retrying every SOURCE_CONNECT_RETRY (60 s) seconds, are restarted by the loop
    so that the cluster is Healthy again at once."""
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    await cg.h.stop()
    await cg.ms[0].arestart()
    async with await connect(cg.admin(1)) as c:
        st = await get_status(c)
        assert st.replica is not None
        assert st.replica.io_running == "Connecting"
    cg.h.start()
    cg.h.proc.wake("primary-restarted")
    took = await cg.h.wait_healthy(20)
    assert cg.h.primary == 0
    assert took < 20
    for i in (1, 2):
        async with await connect(cg.admin(i)) as c:
            st = await get_status(c)
            assert st.replica is not None
            assert st.replica.io_running == "Yes"
