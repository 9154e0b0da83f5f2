"""How a new primary opens after a switchover or a failover (mysql tier).

The client's write unavailability runs from the old primary's fence to the first write the new
one acknowledges through the primary Service, and the Service follows the role label (label ->
EndpointSlice -> kube-proxy, a second on a busy machine). So the promotion moves the label in
one step per Pod (the old primary's first, never two Pods labelled primary, never a label
removed on the way), early in the pass, and makes the new primary writable without the
``role_change_wait`` pause: that pause is for the clients of an instance being fenced (the
Services stop sending it new ones before its clients are killed), and a switchover or failover
fences nobody (the old primary is already read-only, or gone).

The pass that moved the primary opens the new one (``ClusterProcess._open_new_primary``): a
next pass would first wait for a view of the cluster showing the new index.

Each test records the role labels the loop sets and its Events (with the pass of each), with
``role_change_wait`` far longer than the whole promotion may take.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from moco import constants
from moco.clustering.interfaces import (
    EV_FAILOVER_SUCCEEDED,
    EV_SET_WRITABLE,
    EV_SWITCHOVER_SUCCEEDED,
    EventType,
)
from moco.clustering.memory import LoopHarness
from moco.mysql.conn import connect

from ..fixtures.clustering import FAST, ClusterFactory, ClusterGround, fail_primary

pytestmark = pytest.mark.mysql

#: far longer than a promotion may take: a pass that pauses for it fails the tests
CFG = replace(FAST, role_change_wait=30.0)
#: what a promotion may take on a loaded 2-core machine (it takes about 0.1 s)
BOUND_S = 8.0


class Recorder:
    """The role labels the loop sets and its Events, in order, on the harness's MemoryKube."""

    def __init__(self, h: LoopHarness) -> None:
        kube = h.kube
        self.steps: list[tuple[float, str, str, str | None]] = []
        #: the loop's pass number at each Event, by reason
        self.passes: dict[str, int] = {}
        set_label, record, route = kube.set_role_label, kube.record_event, kube.route_primary

        async def set_role_label(pod: str, role: str | None) -> None:
            self.steps.append((time.monotonic(), "label", pod, role))
            await set_label(pod, role)

        async def record_event(type: EventType, reason: str, message: str) -> None:
            self.steps.append((time.monotonic(), "event", reason, message))
            self.passes.setdefault(reason, h.proc.last.passes)
            await record(type, reason, message)

        async def route_primary(pod: str) -> None:
            chosen = next(p.name for p in kube.pods.values() if p.index == kube.status.current_primary_index)
            self.steps.append((time.monotonic(), "route", pod, chosen))
            await route(pod)

        kube.set_role_label = set_role_label  # type: ignore[method-assign]
        kube.route_primary = route_primary  # type: ignore[method-assign]
        kube.record_event = record_event  # type: ignore[method-assign]

    def pass_of(self, reason: str) -> int:
        return self.passes[reason]

    def labels(self) -> list[tuple[str, str | None]]:
        return [(pod, role) for _, kind, pod, role in self.steps if kind == "label"]

    def writable_at(self) -> float:
        return next(t for t, kind, reason, _ in self.steps if kind == "event" and reason == EV_SET_WRITABLE)

    def label_at(self, pod: str, role: str) -> float:
        return next(t for t, kind, p, r in self.steps if kind == "label" and (p, r) == (pod, role))


def check_promotion(cg: ClusterGround, rec: Recorder, old: int, new: int, moved: str) -> None:
    old_pod, new_pod = cg.h.kube.pod(old).name, cg.h.kube.pod(new).name
    # the pass that moved the primary opens it: no second pass (and no wait for a view of the
    # cluster that shows the new index) between the status write and the writable primary
    assert rec.pass_of(EV_SET_WRITABLE) == rec.pass_of(moved), rec.steps
    labels = rec.labels()
    assert None not in [r for _, r in labels], f"a role label was removed on the way: {labels}"
    # never two Pods labelled primary: the old primary's label changes before the new one's
    assert labels.index((old_pod, constants.ROLE_REPLICA)) < labels.index((new_pod, constants.ROLE_PRIMARY))
    # the Service is sent to the new primary before it opens, so both propagate together
    assert rec.label_at(new_pod, constants.ROLE_PRIMARY) <= rec.writable_at()
    assert cg.h.kube.pod(new).role == constants.ROLE_PRIMARY
    assert cg.h.kube.pod(old).role == constants.ROLE_REPLICA
    # the primary Service (no selector) is routed only to the chosen primary (its index already
    # in the status), to the new one before any role label moves (the label writes change the
    # replica Service, and kube-proxy would sync a later change of the primary's a second late)
    routes = [(t, pod, chosen) for t, kind, pod, chosen in rec.steps if kind == "route"]
    assert all(chosen == pod for _, pod, chosen in routes), routes
    first = next(t for t, pod, _ in routes if pod == new_pod)
    first_label = min(t for t, kind, _, _ in rec.steps if kind == "label")
    assert first <= first_label, rec.steps
    assert first <= rec.writable_at()


async def test_switchover_opens_the_new_primary_without_the_role_change_pause(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3, cfg=CFG)
    await cg.h.wait_healthy(60)
    rec = Recorder(cg.h)
    t0 = time.monotonic()
    cg.h.kube.set_pod(0, demote=True)
    cg.h.proc.wake("demote")
    await cg.h.wait_for(
        lambda: {EV_SET_WRITABLE, EV_SWITCHOVER_SUCCEEDED} <= rec.passes.keys(),
        BOUND_S,
        "the new primary writable",
    )
    assert rec.writable_at() - t0 < BOUND_S
    check_promotion(cg, rec, 0, cg.h.primary, EV_SWITCHOVER_SUCCEEDED)


async def test_failover_opens_the_new_primary_without_the_role_change_pause(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3, cfg=CFG)
    await cg.h.wait_healthy(60)
    async with await connect(cg.primary_endpoint()) as c:  # the replicas hold data: Failed, not Lost
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
    await cg.h.wait_healthy(30)
    rec = Recorder(cg.h)
    t0 = time.monotonic()
    old = await fail_primary(cg)
    await cg.h.wait_for(
        lambda: {EV_SET_WRITABLE, EV_FAILOVER_SUCCEEDED} <= rec.passes.keys(),
        BOUND_S + 5,
        "the new primary writable",
    )
    # the evidence takes its own bounds (refused_after, failover_recheck); no pause is added
    assert rec.writable_at() - t0 < BOUND_S + 5
    check_promotion(cg, rec, old, cg.h.primary, EV_FAILOVER_SUCCEEDED)
