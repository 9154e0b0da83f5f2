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
