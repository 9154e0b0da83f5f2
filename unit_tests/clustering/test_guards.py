"""Guards of the loop against views it must not act on (unit tier, in-memory Kubernetes side).

The Pods point at a loopback port where nothing listens, as in test_loop.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from moco.clustering.interfaces import COND_AVAILABLE, COND_HEALTHY
from moco.clustering.memory import SQLCloneAgent
from moco.clustering.process import ClusterProcess
from moco.controllers.setup import _pod_matters
from moco.kube.store import Obj

from .test_loop import CFG, CREDS, FlakyKube, kube, until


async def test_out_of_range_primary_index_is_refused_with_a_condition_and_an_event() -> None:
    k = kube(n=3)
    k.status.current_primary_index = 5
    proc = ClusterProcess("ns", "c", k, SQLCloneAgent(CREDS), CFG)
    for _ in range(2):
        assert await proc.run_once() is False
    # no decision is made from a primary index that names no instance (it is not read as 0)
    assert proc.last.decision is None
    cond = k.condition(COND_HEALTHY)
    assert cond is not None
    assert not cond.status
    assert cond.reason == "InvalidPrimaryIndex"
    assert "5" in cond.message
    avail = k.condition(COND_AVAILABLE)
    assert avail is not None
    assert not avail.status
    assert k.reasons() == ["InvalidPrimaryIndex"], "one Event, not one per pass"
    assert k.status.current_primary_index == 5


async def test_a_failed_pass_is_retried_soon_with_backoff_reset_on_success() -> None:
    k = FlakyKube()
    # the Pods' mysqld never answer here: keep their own re-check out of this test's way
    cfg = replace(CFG, interval=30.0, unreachable_recheck=30.0)
    proc = ClusterProcess("ns", "f", k, SQLCloneAgent(CREDS), cfg)
    proc.start()
    try:
        await until(lambda: proc.last.passes >= 1 and bool(proc.last.error), 3.0)
        t0 = asyncio.get_running_loop().time()
        # no event wakes the loop: the retry comes from the backoff, not the 30 s ticker
        await until(lambda: proc.last.passes >= 3, 6.0)
        assert asyncio.get_running_loop().time() - t0 < 6.0
        k.fail = False
        await until(lambda: proc.last.error == "" and proc.last.decision is not None, 10.0)
        after = proc.last.passes
        await asyncio.sleep(2.5)
        assert proc.last.passes == after, "after a good pass the loop waits for the ticker again"
    finally:
        await proc.stop()


async def test_a_pod_whose_mysqld_does_not_answer_is_checked_again_soon() -> None:
    # a frozen or cut-off former primary may wake up still writable: the loop does not wait
    # for the ticker to look at it again
    k = FlakyKube()
    k.fail = False
    cfg = replace(CFG, interval=30.0, unreachable_recheck=0.5)
    proc = ClusterProcess("ns", "f", k, SQLCloneAgent(CREDS), cfg)
    proc.start()
    try:
        await until(lambda: proc.last.decision is not None, 10.0)
        first = proc.last.passes
        await until(lambda: proc.last.passes >= first + 3, 10.0)
    finally:
        await proc.stop()


def pod_obj(restarts: int = 0, ready: str = "True", container_ready: bool = True) -> Obj:
    return {
        "metadata": {"name": "moco-c-0", "namespace": "ns", "labels": {}, "annotations": {}},
        "status": {
            "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": [
                {"name": "mysqld", "restartCount": restarts, "ready": container_ready},
                {"name": "agent", "restartCount": 0, "ready": True},
            ],
        },
    }


def test_a_container_restart_or_readiness_change_wakes_the_loop() -> None:
    base = pod_obj()
    assert not _pod_matters(base, pod_obj())
    # mysqld restarted (e.g. killed right after a failover) while the Pod's Ready flag stayed
    assert _pod_matters(base, pod_obj(restarts=1))
    assert _pod_matters(base, pod_obj(container_ready=False))
    assert _pod_matters(base, pod_obj(ready="False"))
