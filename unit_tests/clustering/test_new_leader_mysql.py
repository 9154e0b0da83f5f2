"""A new loop (a controller that just took the lead) facing a dead primary (mysql tier).

When the machine of the leading controller dies with the primary on it, the standby takes the
Lease and starts a loop that knows nothing: every instance is read for the first time. With
the operator's own bounds (3 tries of a 3 s connect) its first pass spent about 10 s on the
dead primary before it could decide (seen in e2e: operator loss, 28 s of write unavailability,
10.1 s of it in that pass). An instance that a new loop has not yet heard from gets the short
tries of a known-silent one: the evidence (3 tries over 2 s) is then complete within a few
seconds, over several short passes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from moco.clustering.process import ClusterProcess

from ..fixtures.clustering import FAST, ClusterFactory, checker_for

pytestmark = pytest.mark.mysql

#: the operator's bounds for reading a mysqld (ProcessConfig's defaults), on the fast ticker
OPERATOR_READS = replace(
    FAST, interval=120.0, connect_timeout=3.0, status_retries=3, status_retry_interval=0.5
)


async def test_a_new_loop_fails_over_a_frozen_primary_without_waiting_out_long_connects(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    async with checker_for(cg):  # replicas with data: a lost primary leaves the cluster Failed
        await asyncio.sleep(0.5)
    await cg.h.stop()  # the leader is gone
    old = cg.h.primary
    cg.ms[old].pause()  # and the primary's machine with it: connects time out
    try:
        cg.h.proc = ClusterProcess("default", cg.h.kube.spec.name, cg.h.kube, cg.h.agent, OPERATOR_READS)
        t0 = time.monotonic()
        cg.h.start()
        await cg.h.wait_for(lambda: "FailOver" in cg.h.kube.reasons(), 30, "failover by the new loop")
        took = time.monotonic() - t0
    finally:
        cg.ms[old].resume()
    assert cg.h.primary != old
    # evidence of 3 short tries spread over failover_after (2 s), not 3 x connect_timeout
    assert took < 6, f"the new loop failed over {took:.1f} s after it started"
