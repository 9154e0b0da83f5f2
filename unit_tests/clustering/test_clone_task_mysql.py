"""A clone never holds the failover path of its cluster (mysql tier).

The clone of an empty replica runs as a task the loop tracks; passes go on meanwhile, so a
primary that dies during a long clone is failed over at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from moco.clustering.interfaces import CloneRequest
from moco.clustering.memory import SQLCloneAgent
from moco.clustering.types import PodInfo

from ..fixtures.clustering import CREDS, FAST, ClusterFactory, checker_for, fail_primary

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


class RefusedCloneAgent(SQLCloneAgent):
    """Every clone fails the same way (a recipient whose volume cannot hold the donor's data)."""

    def __init__(self) -> None:
        super().__init__(CREDS)
        self.tries: list[float] = []

    async def clone(self, pod: PodInfo, request: CloneRequest) -> None:
        self.tries.append(asyncio.get_running_loop().time())
        raise RuntimeError(
            "Clone estimated database size is 1.64 GiB. Available space 285.61 MiB is not enough"
        )


async def test_a_clone_that_keeps_failing_is_tried_again_later_and_later(
    cluster_ground: ClusterFactory,
) -> None:
    """Each pass started the failed clone again (a CloneFailed Event every 2 s on the local
    cluster); now the waits double from ``clone_retry_initial`` up to ``clone_retry_max``, and
    the loop is woken for each try."""
    cfg = replace(FAST, clone_retry_initial=0.5, clone_retry_max=1.0)
    cg = await cluster_ground(3, start=False, cfg=cfg)
    agent = RefusedCloneAgent()
    cg.h.agent = agent
    cg.h.proc.agent = agent
    missing = cg.h.kube.remove_pod(2)
    cg.h.start()
    await cg.h.wait_for(lambda: cg.h.state is not None and cg.h.state.value == "Degraded", 60, "Degraded")
    async with checker_for(cg):  # the primary holds data: the empty instance needs a clone
        await asyncio.sleep(0.5)
    cg.h.kube.add_pod(missing)
    cg.h.proc.wake("pod-created")
    await cg.h.wait_for(lambda: len(agent.tries) >= 4, 30, "four tries")
    gaps = [b - a for a, b in zip(agent.tries, agent.tries[1:], strict=False)]
    # 0.5 s, then 1.0 s (the maximum) and so on, never a try per pass
    assert gaps[0] >= 0.5
    assert all(g >= 1.0 for g in gaps[1:3]), gaps
    assert cg.h.kube.reasons().count("CloneFailed") == len(agent.tries)
