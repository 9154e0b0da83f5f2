"""The per-cluster loop and its registry, with an in-memory Kubernetes side (unit tier).

The Pods point at a loopback port where nothing listens, so every mysqld is unreachable at
once (connection refused) and no external part is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from moco.clustering.config import ProcessConfig
from moco.clustering.interfaces import (
    COND_AVAILABLE,
    COND_CLUSTERING_ACTIVE,
    COND_HEALTHY,
    COND_INITIALIZED,
    Credentials,
)
from moco.clustering.manager import ClusterManager
from moco.clustering.memory import MemoryKube, SQLCloneAgent
from moco.clustering.process import ClusterProcess, failed_in_a_row
from moco.clustering.report import status_update
from moco.clustering.types import ClusterSpecView, ClusterState, PodInfo

from .builders import healthy

CREDS = Credentials("a", "r", "d")
CFG = ProcessConfig(interval=0.2, connect_timeout=0.3, status_retries=1, kube_timeout=0.3, pass_timeout=5)


def dead_pods(n: int) -> list[PodInfo]:
    return [PodInfo(name=f"c-{i}", index=i, host="127.0.0.1", port=1, admin_port=1) for i in range(n)]


def kube(name: str = "c", n: int = 3, **spec: object) -> MemoryKube:
    cluster = ClusterSpecView(name=name, namespace="ns", replicas=n, **spec)  # type: ignore[arg-type]
    return MemoryKube(cluster, dead_pods(n), CREDS)


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while True:
            if pred():
                return
            await asyncio.sleep(0.01)


async def test_pass_reports_lost_when_nothing_answers() -> None:
    k = kube()
    proc = ClusterProcess("ns", "c", k, SQLCloneAgent(CREDS), CFG)
    redo = await proc.run_once()
    assert redo is False
    assert proc.last.decision is not None
    assert proc.last.decision.state is ClusterState.LOST
    assert not k.is_true(COND_AVAILABLE)
    healthy_cond = k.condition(COND_HEALTHY)
    assert healthy_cond is not None
    assert healthy_cond.reason == "Lost"
    assert k.is_true(COND_CLUSTERING_ACTIVE)
    assert k.status.synced_replicas == 3


async def test_unchanged_status_is_not_written_again() -> None:
    k = kube()
    proc = ClusterProcess("ns", "c", k, SQLCloneAgent(CREDS), CFG)
    await proc.run_once()
    await proc.run_once()
    assert k.status.updates == 1


async def test_clustering_stopped_reports_and_does_nothing() -> None:
    k = kube(clustering_stopped=True)
    proc = ClusterProcess("ns", "c", k, SQLCloneAgent(CREDS), CFG)
    for _ in range(3):
        await proc.run_once()
    assert not k.is_true(COND_CLUSTERING_ACTIVE)
    assert proc.last.decision is None
    assert k.reasons() == ["ClusteringStopped"]
    k.set_spec(clustering_stopped=False)
    await proc.run_once()
    assert k.is_true(COND_CLUSTERING_ACTIVE)


async def test_cluster_gone_is_a_quiet_pass() -> None:
    k = kube()
    k.gone = True
    proc = ClusterProcess("ns", "c", k, SQLCloneAgent(CREDS), CFG)
    assert await proc.run_once() is False
    assert k.status.updates == 0
    assert proc.last.error == ""


class FlakyKube(MemoryKube):
    def __init__(self) -> None:
        super().__init__(ClusterSpecView("f", "ns", 1), dead_pods(1), CREDS)
        self.fail = True
        self.slow = 0.0

    async def list_pods(self) -> Sequence[PodInfo]:
        if self.slow:
            await asyncio.sleep(self.slow)
        if self.fail:
            raise RuntimeError("apiserver unavailable")
        return await super().list_pods()


async def test_failing_pass_is_recorded_and_the_loop_goes_on() -> None:
    k = FlakyKube()
    proc = ClusterProcess("ns", "f", k, SQLCloneAgent(CREDS), CFG)
    proc.start()
    try:
        await until(lambda: "apiserver unavailable" in proc.last.error)
        k.fail = False
        proc.wake("test")
        await until(lambda: proc.last.decision is not None and proc.last.error == "")
    finally:
        await proc.stop()
    assert not proc.running


async def test_slow_kube_side_is_bounded() -> None:
    k = FlakyKube()
    k.fail, k.slow = False, 10.0
    proc = ClusterProcess("ns", "f", k, SQLCloneAgent(CREDS), CFG)
    t0 = asyncio.get_running_loop().time()
    await proc.run_once()
    assert asyncio.get_running_loop().time() - t0 < 2.0
    assert proc.last.error


async def test_manager_runs_one_loop_per_cluster_and_one_slow_cluster_does_not_delay_another() -> None:
    sides: dict[str, MemoryKube] = {"slow": FlakyKube(), "fast": kube("fast")}
    sides["slow"].slow = 10.0  # type: ignore[attr-defined]
    sides["slow"].fail = False  # type: ignore[attr-defined]
    mgr = ClusterManager(lambda ns, name: (sides[name], SQLCloneAgent(CREDS)), CFG)
    slow = mgr.update("ns", "slow")
    fast = mgr.update("ns", "fast")
    assert slow is not None
    assert fast is not None
    try:
        assert mgr.update("ns", "fast") is fast  # a reconcile wakes, it does not start another loop
        await until(lambda: fast.last.passes >= 3, 3.0)
        assert slow.last.passes <= 2
        assert mgr.keys() == [("ns", "fast"), ("ns", "slow")]
        assert mgr.wake("ns", "fast")
        assert not mgr.wake("ns", "nope")
        await mgr.stop("ns", "fast")
        assert mgr.get("ns", "fast") is None
        assert not fast.running
    finally:
        await mgr.stop_all()
    assert not slow.running
    assert mgr.keys() == []


async def test_manager_starts_no_loop_after_stop_all() -> None:
    """A reconcile that ends while the manager shuts down must not start a loop nobody stops.

    The controller's workers and the clustering runnable are cancelled together; a reconcile
    finishing after ``stop_all`` started a loop that ran on, with a closed client, into the next
    test's output (CI run of 708d531).
    """
    mgr = ClusterManager(lambda ns, name: (kube(name), SQLCloneAgent(CREDS)), CFG)
    first = mgr.update("ns", "a")
    assert first is not None
    assert mgr.get("ns", "a") is first
    await mgr.stop_all()
    assert not first.running
    assert mgr.update("ns", "a") is None
    assert mgr.update("ns", "b") is None
    assert mgr.keys() == []
    assert not mgr.wake("ns", "a")


async def test_wakeups_coalesce_and_the_ticker_runs_passes() -> None:
    k = kube()
    proc = ClusterProcess(
        "ns", "c", k, SQLCloneAgent(CREDS), ProcessConfig(**{**CFG.__dict__, "interval": 0.1})
    )
    proc.start()
    try:
        for _ in range(50):
            proc.wake("burst")
        await asyncio.sleep(0.05)
        burst = proc.last.passes
        await until(lambda: proc.last.passes >= burst + 3, 3.0)
    finally:
        await proc.stop()
    assert burst <= 3


@pytest.mark.parametrize(
    ("state", "initialized", "available", "is_healthy"),
    [
        (ClusterState.HEALTHY, True, True, True),
        (ClusterState.DEGRADED, True, True, False),
        (ClusterState.CLONING, False, False, False),
        (ClusterState.RESTORING, False, False, False),
        (ClusterState.FAILED, True, False, False),
        (ClusterState.LOST, True, False, False),
        (ClusterState.INCOMPLETE, True, False, False),
        (ClusterState.OFFLINE, True, False, False),
    ],
)
def test_status_conditions_follow_the_state(
    state: ClusterState, initialized: bool, available: bool, is_healthy: bool
) -> None:
    up = status_update(healthy(3), state)
    got = {c.type: (c.status, c.reason) for c in up.conditions}
    assert got[COND_INITIALIZED] == (initialized, state.value)
    assert got[COND_AVAILABLE] == (available, state.value)
    assert got[COND_HEALTHY] == (is_healthy, state.value)
    assert got[COND_CLUSTERING_ACTIVE][0] is True
    assert up.cloned is None
    assert up.errant_replica_list == ()


def test_cloned_is_recorded_once_the_clone_is_over() -> None:
    ss = healthy(3, replication_source_secret="src")
    assert status_update(ss, ClusterState.CLONING).cloned is None
    assert status_update(ss, ClusterState.INCOMPLETE).cloned is True


@pytest.mark.parametrize(
    ("failures", "failed", "origin", "expected"),
    [
        (0, False, "retry", 0),  # a good pass resets
        (3, False, "pod-event", 0),
        (0, True, "pod-event", 1),  # an event's failure starts the streak
        (0, True, "interval", 1),
        (1, True, "retry", 2),  # the timer's retries double the wait
        (2, True, "interval", 3),
        (1, True, "pod-event", 1),  # events failing in a row do not stretch it
        (1, True, "redo", 1),
        (1, True, "unreachable", 1),
    ],
)
def test_only_the_timers_failed_passes_stretch_the_retry(
    failures: int, failed: bool, origin: str, expected: int
) -> None:
    assert failed_in_a_row(failures, failed=failed, origin=origin) == expected
