"""Bootstrap to Healthy on real mysqld (mysql tier)."""

from __future__ import annotations

import pytest

from moco import constants
from moco.clustering.interfaces import COND_AVAILABLE, COND_CLUSTERING_ACTIVE, COND_HEALTHY
from moco.mysql.conn import connect
from moco.mysql.status import get_status

from ..fixtures.clustering import ClusterFactory

pytestmark = pytest.mark.mysql


@pytest.mark.parametrize("n", [1, 3, 5])
async def test_bootstrap_to_healthy(cluster_ground: ClusterFactory, n: int) -> None:
    cg = await cluster_ground(n)
    await cg.h.wait_healthy(60)
    kube = cg.h.kube
    assert cg.h.primary == 0
    assert kube.is_true(COND_HEALTHY)
    assert kube.is_true(COND_AVAILABLE)
    assert kube.is_true(COND_CLUSTERING_ACTIVE)
    assert kube.status.synced_replicas == n
    roles = [kube.pod(i).role for i in range(n)]
    assert roles == [constants.ROLE_PRIMARY] + [constants.ROLE_REPLICA] * (n - 1)
    # the primary is writable with loss-less semi-sync, the replicas super_read_only and replicating
    async with await connect(cg.admin(0)) as c:
        st = await get_status(c)
        assert not st.read_only
        if n > 1:
            assert st.semi_sync_source_enabled
            assert st.semi_sync_source_wait_count == n // 2
            assert st.semi_sync_source_timeout_ms >= 3_600_000
            assert len(st.connected_replicas) == n - 1
    for i in range(1, n):
        async with await connect(cg.admin(i)) as c:
            st = await get_status(c)
            assert st.super_read_only
            assert st.replica is not None
            assert st.replica.source_port == cg.ms[0].port
            assert st.replica.io_running == "Yes"
            assert st.semi_sync_replica_enabled
    assert "Writable" in kube.reasons()
