"""A clone is bounded by its progress, never by its total time (mysql tier).

The agent kills a clone that makes no progress; a clone of a large instance may take hours, so
neither the pass that runs the initial clone from an external source nor the clone job adds a
total bound around it. Here the clone takes longer than ``pass_timeout + clone_timeout`` and
still succeeds.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from moco.clustering.interfaces import CloneRequest
from moco.clustering.memory import SQLCloneAgent
from moco.clustering.types import PodInfo
from moco.testing.mysqld import MysqldGround

from ..fixtures.clustering import CREDS, FAST, ClusterFactory, external_source

pytestmark = pytest.mark.mysql

#: a pass may take 4 s, the restart after a clone 0.1 s: both far shorter than the clone below.
SHORT = replace(FAST, pass_timeout=4.0, clone_timeout=0.1)
#: how long the slow clone takes before it starts copying.
SLOW = 6.0


class SlowCloneAgent(SQLCloneAgent):
    """A clone that takes longer than every total bound the loop could set (a large data set)."""

    def __init__(self) -> None:
        super().__init__(CREDS)
        self.asked_timeout: float | None = None

    async def clone(self, pod: PodInfo, request: CloneRequest) -> None:
        self.asked_timeout = request.timeout
        await asyncio.sleep(SLOW)
        await super().clone(pod, replace(request, timeout=60.0))  # the restart of a real mysqld


async def test_an_initial_clone_longer_than_the_pass_bound_succeeds(
    cluster_ground: ClusterFactory, mysqld_ground: MysqldGround
) -> None:
    async with external_source(mysqld_ground, rows=1) as (_, src):
        cg = await cluster_ground(
            2, start=False, cfg=SHORT, replication_source_secret="src", sources={"src": src}
        )
        agent = SlowCloneAgent()
        cg.h.agent = agent
        cg.h.proc.agent = agent
        cg.h.start()
        await cg.h.wait_for(
            lambda: "InitCloned" in cg.h.kube.reasons() or "InitCloneFailed" in cg.h.kube.reasons(),
            120,
            "the initial clone ended",
        )
        assert "InitCloneFailed" not in cg.h.kube.reasons(), cg.h.kube.events
        assert agent.asked_timeout == SHORT.clone_timeout
        await cg.h.wait_healthy(120)
        assert cg.h.kube.status.cloned
