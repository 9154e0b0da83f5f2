"""A clone never holds the failover path of its cluster (mysql tier).

The clone of an empty replica runs as a task the loop tracks; passes go on meanwhile, so a
primary that dies during a long clone is failed over at once.
"""

from __future__ import annotations

import asyncio

import pytest

from moco.clustering.interfaces import CloneRequest
from moco.clustering.memory import SQLCloneAgent
from moco.clustering.types import PodInfo

from ..fixtures.clustering import CREDS, ClusterFactory, checker_for, fail_primary

pytestmark = pytest.mark.mysql


class HeldCloneAgent(SQLCloneAgent):
    """Clones over SQL, but only once released (a clone of a large data set)."""

    def __init__(self) -> None:
        super().__init__(CREDS)
        self.release = asyncio.Event()
        self.started = 0

    async def clone(self, pod: PodInfo, request: CloneRequest) -> None:
        self.started += 1
        await self.release.wait()
        await super().clone(pod, request)


async def test_primary_failure_during_a_long_clone_is_failed_over(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(5, start=False)
    agent = HeldCloneAgent()
    cg.h.agent = agent
    cg.h.proc.agent = agent
    missing = cg.h.kube.remove_pod(4)
    cg.h.start()
    await cg.h.wait_for(lambda: cg.h.state is not None and cg.h.state.value == "Degraded", 60, "Degraded")
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.5)
    cg.h.kube.add_pod(missing)
    cg.h.proc.wake("pod-created")
    await cg.h.wait_for(lambda: agent.started > 0, 30, "clone started")
    old = await fail_primary(cg)
    await cg.h.wait_for(lambda: cg.h.primary != old, 20, "failover during the clone")
    assert not agent.release.is_set()
    agent.release.set()
    # the clone from the dead primary fails; the next one, from the new primary, succeeds
    await cg.h.wait_for(lambda: "Cloned" in cg.h.kube.reasons(), 120, "a clone succeeded")
    rep = await chk.verify(cg.admin(cg.h.primary))
    assert rep.ok, rep.describe()
