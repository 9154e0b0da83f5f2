"""A cluster being restored, on real mysqld (mysql tier).

While ``spec.restore`` is set and ``status.restoredTime`` is not, the restore Job owns the
primary (instance 0): it makes it writable (``read_only=0``), loads the data, and leaves it
``super_read_only`` (and may restart its mysqld). The loop does nothing meanwhile (MOCO's
Restoring): it neither fences the writable primary nor configures or clones the replicas. Once
restoredTime is set, the replicas are cloned from the restored primary and the cluster becomes
Healthy: the primary seen writable while Restoring and then read-only after a container restart
is not taken for a crash.
"""

from __future__ import annotations

import asyncio

import pytest

from moco.clustering.interfaces import EV_CLONE_SUCCEEDED
from moco.clustering.types import ClusterState
from moco.mysql.conn import connect
from moco.mysql.status import get_status

from ..fixtures.clustering import ClusterFactory

pytestmark = pytest.mark.mysql

ROWS = 50


async def test_replicas_are_cloned_from_the_restored_primary(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3, restoring=True)
    h = cg.h
    await h.wait_for(lambda: h.state is ClusterState.RESTORING, 30, "Restoring")

    # what the restore Job does to instance 0
    async with await connect(cg.admin(0)) as c:
        await c.execute("SET GLOBAL read_only = 0")
        await c.execute("CREATE DATABASE app")
        await c.execute("CREATE TABLE app.t (id INT PRIMARY KEY)")
        for i in range(1, ROWS + 1):
            await c.execute("INSERT INTO app.t VALUES (%s)", (i,))
    passes = h.proc.last.passes
    h.proc.wake("test")
    await h.wait_for(lambda: h.proc.last.passes >= passes + 3, 30, "three more passes")
    async with await connect(cg.admin(0)) as c:
        st = await get_status(c)
        assert not st.read_only, "the loop made the primary read-only under the restore Job"
        await c.execute("SET GLOBAL super_read_only = 1")  # the Job's last step
    # a restore that copies data files restarts mysqld: the container's restartCount goes up
    h.kube.restart_mysqld_container(0)
    for i in (1, 2):
        async with await connect(cg.admin(i)) as c:
            st = await get_status(c)
            assert st.replica is None, f"instance {i} was configured while Restoring"
            assert not st.gtid_executed
    assert EV_CLONE_SUCCEEDED not in h.kube.reasons()
    assert h.state is ClusterState.RESTORING

    # the Job wrote status.restoredTime: the replicas are cloned from the restored primary
    h.kube.set_spec(restoring=False)
    h.proc.wake("restored")
    await h.wait_healthy(120)
    assert h.kube.reasons().count(EV_CLONE_SUCCEEDED) == 2
    async with await connect(cg.admin(0)) as c:
        assert not (await get_status(c)).read_only
        await c.execute("INSERT INTO app.t VALUES (%s)", (ROWS + 1,))
    for i in (1, 2):
        for _ in range(100):
            async with await connect(cg.admin(i)) as c:
                row = await c.query_one("SELECT COUNT(*) AS n FROM app.t")
            rows = row["n"] if row else None
            if rows == ROWS + 1:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"instance {i} has {rows} rows, wants {ROWS + 1}")
