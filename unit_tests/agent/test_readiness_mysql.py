"""Readiness rule 7 against real mysqld 9.7: a new replica that has received no transaction is
ready as soon as its source's heartbeat says it holds everything, not after the uptime grace.

A new cluster has no transaction: before the heartbeat rule every replica waited out
``transaction_queueing_wait`` (60 s) of uptime, which kept a new 3-instance cluster from being
Healthy for about a minute. The grace stays for a replica whose source does not answer.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from moco import constants
from moco.agent.probes import gather_facts
from moco.agent.readiness import ReadinessPolicy, decide_readiness
from moco.mysql import ops
from moco.mysql.conn import connect
from unit_tests.agent.test_agent_mysql import MysqldFactory, ep, init_instance, replicate_from

pytestmark = pytest.mark.mysql

#: the grace of the uptime rule, far longer than the test: only the heartbeat can make it ready.
POLICY = ReadinessPolicy(max_delay_s=60, transaction_queueing_wait_s=3600)


async def test_new_replica_is_ready_once_its_source_heartbeat_arrives(mysqld_factory: MysqldFactory) -> None:
    primary, replica = await mysqld_factory(2)
    for m in (primary, replica):
        await init_instance(m)
    async with await connect(ep(primary, constants.ADMIN_USER)) as pc:
        await ops.set_writable(pc)
    async with (
        await connect(ep(replica, constants.ADMIN_USER)) as rc,
        await connect(ep(replica, constants.AGENT_USER)) as agent,
    ):
        facts = await gather_facts(agent)
        assert facts.heartbeat_age_s is None  # no channel yet
        await replicate_from(rc, primary)
        t0 = time.monotonic()
        while True:
            facts = await gather_facts(agent)
            verdict = decide_readiness(facts, POLICY)
            if verdict.ready:
                break
            assert time.monotonic() - t0 < 10, f"still not ready: {verdict.reason}"
            await asyncio.sleep(0.2)
        assert facts.lag_s is None  # nothing was queued: the heartbeat made it ready
        assert facts.heartbeat_age_s is not None
        assert "heartbeat" in verdict.reason
        # Within about one heartbeat period of the IO thread's start.
        assert time.monotonic() - t0 < 3 * ops.HEARTBEAT_PERIOD_S + 1

        # The source goes away: its heartbeats stop, and the replica is not ready again once
        # the last one is older than the policy allows (it may miss what the source writes).
        primary.pause()
        try:
            await asyncio.sleep(POLICY.heartbeat_fresh_s + 1)
            verdict = decide_readiness(await gather_facts(agent), POLICY)
            assert not verdict.ready, verdict.reason
        finally:
            primary.resume()
