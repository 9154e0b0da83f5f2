"""The loop under a lagging view of the MySQLCluster (mysql tier).

An informer cache may answer with the cluster as it was before the loop's own status write.
A pass that trusted such a view after a switchover would find the old primary read-only, make
it writable again and later reset the new primary's replication: two writable instances and
lost acknowledged writes. These tests make the in-memory Kubernetes side lag and check that no
pass acts on a primary index older than the last one the loop wrote.
"""

from __future__ import annotations

import asyncio

import pytest

from moco.clustering.process import ClusterProcess
from moco.mysql.conn import connect
from moco.mysql.status import get_status

from ..fixtures.clustering import ClusterFactory, checker_for

pytestmark = pytest.mark.mysql


async def test_switchover_with_a_lagging_cluster_view_keeps_one_writable(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.3)
        cg.h.kube.view_lag = 4.0
        n_events = len(cg.h.kube.events)
        n_acted = len(cg.h.proc.last.primaries_acted_on)
        cg.h.kube.set_pod(0, demote=True)
        cg.h.proc.wake("demote")
        await cg.h.wait_for(lambda: cg.h.primary == 1, 30, "switchover")
        # while the view still says 0, the old primary must stay read-only
        for _ in range(60):
            async with await connect(cg.admin(0)) as c:
                st = await get_status(c)
            assert st.super_read_only, "the old primary was made writable from a stale view"
            await asyncio.sleep(0.05)
        await cg.h.wait_healthy(60)
        await asyncio.sleep(0.3)
    assert cg.h.primary == 1
    later = cg.h.kube.events[n_events:]
    assert not [e for e in later if e[1] == "Writable" and "instance 0" in e[2]], later
    rep = await chk.verify(cg.admin(1))
    assert rep.ok, rep.describe()
    acted = cg.h.proc.last.primaries_acted_on[n_acted:]
    # the switchover pass itself works from 0; no later pass does
    assert acted[:1] == [0], acted
    assert all(i == 1 for i in acted[1:]), acted


async def test_an_operation_is_never_decided_on_a_cached_view_another_process_outdated(
    cluster_ground: ClusterFactory,
) -> None:
    # process A runs the cluster; it stops (a leader change), process B switches over to 1;
    # A runs again while its cached view still says primary 0 (its own write guard knows
    # nothing of B's write): A must read the cluster fresh before it acts, never make 0
    # writable again
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    a = cg.h.proc
    await a.stop()
    b = ClusterProcess("default", a.name, cg.h.kube, cg.h.agent, a.cfg)
    b.start()
    try:
        cg.h.kube.set_pod(0, demote=True)
        b.wake("demote")
        await cg.h.wait_for(lambda: cg.h.primary == 1, 30, "switchover by B")
        await cg.h.wait_for(lambda: not cg.h.kube.pod(0).demote, 30, "demote annotation removed by B")
    finally:
        await b.stop()
    cg.h.kube.view_lag = 30.0
    assert (await cg.h.kube.get_cluster()).current_primary_index == 0  # type: ignore[union-attr]
    n_acted = len(a.last.primaries_acted_on)
    a.start()
    a.wake("event")
    for _ in range(60):
        async with await connect(cg.admin(0)) as c:
            st = await get_status(c)
        assert st.super_read_only, "the old primary was made writable from a cached view"
        await asyncio.sleep(0.05)
    assert 0 not in a.last.primaries_acted_on[n_acted:], a.last.primaries_acted_on
    assert cg.h.primary == 1
