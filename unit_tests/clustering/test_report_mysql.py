"""``status.clustering`` written by the real loop over real mysqld (mysql tier): the decision
(switchover to its target while it runs, None once Healthy) and the last primary change (from,
to, when, write-unavailable time) after a switchover and after a failover; and a steady cluster
under writes gets no status write at all."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from moco.clustering.interfaces import NextOperation

from ..fixtures.clustering import ClusterFactory, checker_for, fail_primary

pytestmark = pytest.mark.mysql


def _age_s(rfc3339: str) -> float:
    at = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return (datetime.datetime.now(datetime.UTC) - at).total_seconds()


async def test_switchover_and_failover_are_recorded(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    st = cg.h.kube.status
    assert st.next_operation == NextOperation("None", None, "")
    assert st.last_primary_change is None

    # switchover 0 -> 1: while it runs the status names it and its target
    seen: list[NextOperation | None] = []
    cg.h.kube.set_pod(0, demote=True)
    cg.h.proc.wake("demote")
    await cg.h.wait_for(lambda: seen.append(st.next_operation) or cg.h.primary != 0, 30, "switchover")
    await cg.h.wait_healthy(30)
    await cg.h.wait_for(lambda: st.last_primary_change is not None, 10, "the change recorded")
    change = st.last_primary_change
    assert change is not None
    assert (change.operation, change.from_index, change.to_index) == ("Switchover", 0, 1)
    assert 0 < change.write_unavailable_s < 10
    assert change.reason == "primary Pod: demote annotation"
    assert _age_s(change.time) < 60
    assert NextOperation("Switchover", 1, "primary Pod: demote annotation") in seen
    await cg.h.wait_for(lambda: st.next_operation == NextOperation("None", None, ""), 10, "None again")

    # failover of 1 (SIGKILL) under writes (a replica must hold data to take over): the record
    # is replaced
    async with checker_for(cg) as chk:
        await cg.h.wait_for(lambda: len(chk.acks) > 0, 10, "a write")
        old = await fail_primary(cg)
        await cg.h.wait_for(lambda: cg.h.primary != old, 30, "failover")
    await cg.h.wait_for(
        lambda: st.last_primary_change is not None and st.last_primary_change.operation == "Failover",
        10,
        "the failover recorded",
    )
    change = st.last_primary_change
    assert change is not None
    assert (change.from_index, change.to_index) == (old, cg.h.primary)
    assert 0 < change.write_unavailable_s < 30
    assert change.reason


async def test_a_steady_cluster_under_writes_writes_no_status(cluster_ground: ClusterFactory) -> None:
    """GTID sets move with every commit; the status holds none, so passes write nothing."""
    cg = await cluster_ground(3)
    await cg.h.wait_healthy(60)
    await asyncio.sleep(1.0)  # the passes right after Healthy may still settle a label
    writes, passes = cg.h.kube.status.updates, cg.h.proc.last.passes
    async with checker_for(cg) as chk:
        await cg.h.wait_for(lambda: cg.h.proc.last.passes >= passes + 5, 30, "five passes")
    assert len(chk.acks) > 0
    assert cg.h.kube.status.updates == writes
