"""The controller's clone agent against the real agent and real mysqld: a restarted agent.

When the agent (or its Pod) restarts during a clone, the clone is gone: the new agent process
reports another ``instance_id`` and no clone. The controller must give up at once (the next
pass looks at the instance again) rather than poll until a deadline an hour away while the
cluster's loop waits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from moco import constants
from moco.agent.server import Agent
from moco.clustering.interfaces import CloneRequest
from moco.clustering.types import PodInfo
from moco.controllers.kubeside import AgentCloneAgent, CloneFailed
from moco.mysql import ops
from moco.mysql.conn import connect
from unit_tests.agent.test_agent_mysql import PASSWORDS, TOKEN, MysqldFactory, config_for, ep, init_instance

pytestmark = pytest.mark.mysql


class TokenSide:
    async def agent_token(self) -> str:
        return TOKEN


async def test_a_restarted_agent_fails_the_clone_at_once(mysqld_factory: MysqldFactory) -> None:
    donor, recipient = await mysqld_factory(2)
    for m in (donor, recipient):
        await init_instance(m)
    async with await connect(ep(donor, constants.ADMIN_USER)) as c:
        await ops.set_writable(c)
        await c.execute("CREATE DATABASE app")
    async with await connect(ep(recipient, constants.ADMIN_USER)) as c:
        # 1 MiB/s: the clone is still copying when the agent restarts
        await c.execute("SET GLOBAL clone_max_data_bandwidth = 1")
    first = Agent(config_for(recipient))
    await first.start_listeners()
    port = first.bound_ports["agent"]
    second = Agent(dataclasses.replace(config_for(recipient), agent_port=port))
    agent = AgentCloneAgent(TokenSide(), port=port, poll=0.5)  # type: ignore[arg-type]
    pod = PodInfo(name="moco-db-1", index=1, host="127.0.0.1")
    req = CloneRequest(
        donor.host,
        donor.port,
        constants.CLONE_DONOR_USER,
        PASSWORDS[constants.CLONE_DONOR_USER],
        init_user=constants.ADMIN_USER,
        init_password=PASSWORDS[constants.ADMIN_USER],
        timeout=3600,
    )
    clone = asyncio.create_task(agent.clone(pod, req))
    try:
        for _ in range(600):
            if first.cloner.running:
                break
            await asyncio.sleep(0.05)
        assert first.cloner.running
        await first.close()  # the agent process ends ...
        await second.start_listeners()  # ... and a new one answers on the same port
        t0 = time.monotonic()
        with pytest.raises(CloneFailed, match="restarted"):
            await asyncio.wait_for(clone, 30)
        assert time.monotonic() - t0 < 10
    finally:
        clone.cancel()
        await first.close()
        await second.close()
