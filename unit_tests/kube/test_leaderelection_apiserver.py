"""Leader election between separate manager processes, against a real kube-apiserver."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import LEASES
from moco.testing import ground
from moco.testing.envtest import Envtest

pytestmark = pytest.mark.apiserver

LEASE_DURATION = 15.0
RETRY_PERIOD = 2.0
MAIN = Path(__file__).with_name("leader_main.py")
REPO = Path(__file__).resolve().parents[2]


class Candidate:
    def __init__(self, identity: str, log: Path, popen: Any, rec: ground.Recorded):
        self.identity, self.log, self.popen, self.rec = identity, log, popen, rec

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def leading(self) -> bool:
        return f"LEADING {self.identity}" in self.output()


@pytest.fixture
async def candidates(apiserver: Envtest, namespace: str, tmp_path: Path) -> AsyncIterator[list[Candidate]]:
    started: list[Candidate] = []
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
    for ident in ("alpha", "beta"):
        log = tmp_path / f"{ident}.log"
        popen, rec = ground.spawn(
            [sys.executable, str(MAIN), str(apiserver.kubeconfig), namespace, "moco-test-leader", ident],
            f"leader-election test manager {ident}",
            log=log,
            env=env,
        )
        started.append(Candidate(ident, log, popen, rec))
    try:
        yield started
    finally:
        for c in started:
            ground.stop(c.rec, c.popen, timeout=10)


async def holder(kube: Client, namespace: str) -> str:
    try:
        lease = await kube.get(LEASES, "moco-test-leader", namespace)
    except errors.NotFound:
        return ""
    return str(lease["spec"].get("holderIdentity") or "")


async def wait_holder(kube: Client, namespace: str, want: set[str], within: float) -> str:
    deadline = time.monotonic() + within
    while True:
        h = await holder(kube, namespace)
        if h in want:
            return h
        assert time.monotonic() < deadline, f"holder {h!r}, wanted one of {want}"
        await asyncio.sleep(0.05)


async def elect(kube: Client, namespace: str, cands: list[Candidate]) -> tuple[Candidate, Candidate]:
    h = await wait_holder(kube, namespace, {"alpha", "beta"}, 30)
    leader = next(c for c in cands if c.identity == h)
    other = next(c for c in cands if c.identity != h)
    deadline = time.monotonic() + 10
    while not leader.leading():
        assert time.monotonic() < deadline, leader.output()
        await asyncio.sleep(0.05)
    # watch for a few renewals: the holder never changes and only one runs leader work
    for _ in range(int(2 * RETRY_PERIOD / 0.25)):
        assert await holder(kube, namespace) == leader.identity
        assert not other.leading(), other.output()
        await asyncio.sleep(0.25)
    return leader, other


async def test_two_managers_elect_one_leader_and_a_sigkilled_leader_is_replaced_within_lease_duration(
    kube: Client, namespace: str, candidates: list[Candidate]
) -> None:
    leader, other = await elect(kube, namespace, candidates)
    os.kill(leader.rec.pid, signal.SIGKILL)
    killed = time.monotonic()
    await wait_holder(kube, namespace, {other.identity}, LEASE_DURATION + RETRY_PERIOD + 5)
    took = time.monotonic() - killed
    print(f"takeover after SIGKILL: {took:.2f}s")
    # the last renewal is seen at most one retry period after it happened, and the lease is taken as
    # soon as it expires on the follower's clock; 1 s covers request latency on a loaded machine
    assert took <= LEASE_DURATION + RETRY_PERIOD + 1.0, took
    assert took >= LEASE_DURATION - RETRY_PERIOD - 0.5, f"{took}: the lease was taken before it expired"
    deadline = time.monotonic() + 5
    while not other.leading():
        assert time.monotonic() < deadline, other.output()
        await asyncio.sleep(0.05)


async def test_a_cleanly_stopped_leader_releases_and_the_other_takes_over_within_one_retry_period(
    kube: Client, namespace: str, candidates: list[Candidate]
) -> None:
    leader, other = await elect(kube, namespace, candidates)
    os.kill(leader.rec.pid, signal.SIGTERM)
    stopped = time.monotonic()
    # the stopping leader releases the lease (empty holder) ...
    h = await wait_holder(kube, namespace, {"", other.identity}, 10)
    released = time.monotonic()
    # ... and the other takes it over at its next try, within one retry period
    await wait_holder(kube, namespace, {other.identity}, 10)
    took = time.monotonic() - released
    total = time.monotonic() - stopped
    print(f"SIGTERM -> released {released - stopped:.2f}s, released -> taken over {took:.2f}s")
    assert h == "" or total <= RETRY_PERIOD, "the lease was released before being taken over"
    assert took <= RETRY_PERIOD + 0.3, took
    assert total <= RETRY_PERIOD + 1.5, total
    assert leader.popen.wait(timeout=10) == 0, leader.output()
    assert f"EXIT {leader.identity} 0" in leader.output()


async def test_a_manager_that_loses_its_lease_exits_non_zero(kube: Client, namespace: str) -> None:
    from moco.kube.leaderelection import LeaderElectionConfig
    from moco.kube.manager import EXIT_FAILED, Manager, ManagerOptions

    cfg = LeaderElectionConfig(namespace, "short", "me", lease_duration=3, renew_deadline=2, retry_period=0.5)
    mgr = Manager(
        kube,
        ManagerOptions(namespace=namespace, leader_election=cfg, http_address=None, handle_signals=False),
    )
    work_cancelled = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            work_cancelled.set()
            raise

    mgr.add_runnable(work)
    run = asyncio.create_task(mgr.run())
    await wait_lease(kube, namespace, "short", "me")

    # someone else takes the lease over behind our back (retried: our renewals, every 0.5 s, may
    # change it between the read and the write)
    def usurp(lease: dict[str, Any]) -> bool:
        lease["spec"]["holderIdentity"] = "usurper"
        lease["spec"]["leaseDurationSeconds"] = 3600
        return True

    await kube.update_with_retry(LEASES, "short", namespace, usurp)
    taken = time.monotonic()
    assert await asyncio.wait_for(run, 10) == EXIT_FAILED
    assert mgr.exit_reason == "leadership lost"
    assert work_cancelled.is_set()
    assert time.monotonic() - taken <= cfg.renew_deadline + cfg.retry_period + 1.0


async def wait_lease(kube: Client, namespace: str, name: str, want: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            lease = await kube.get(LEASES, name, namespace)
            if lease["spec"].get("holderIdentity") == want:
                return
        except errors.NotFound:
            pass
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_expiry_is_judged_on_our_clock_not_on_the_lease_timestamps(
    kube: Client, namespace: str
) -> None:
    from moco.kube.leaderelection import LeaderElectionConfig, LeaderElector

    ancient = "2000-01-01T00:00:00.000000Z"  # by wall clock this lease expired long ago
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "clock", "namespace": namespace},
        "spec": {
            "holderIdentity": "old",
            "leaseDurationSeconds": 2,
            "acquireTime": ancient,
            "renewTime": ancient,
        },
    }
    await kube.create(LEASES, lease)
    cfg = LeaderElectionConfig(
        namespace, "clock", "new", lease_duration=3, renew_deadline=2, retry_period=0.5
    )
    elector = LeaderElector(kube, cfg)
    started = time.monotonic()
    task = asyncio.create_task(elector.run())
    try:
        await asyncio.wait_for(elector.leading.wait(), 10)
        waited = time.monotonic() - started
        # not before 2 s after we first saw the record, and promptly then
        assert 1.9 <= waited <= 2.0 + cfg.retry_period + 0.5, waited
        got = await kube.get(LEASES, "clock", namespace)
        assert got["spec"]["holderIdentity"] == "new"
        assert got["spec"]["leaseTransitions"] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (await kube.get(LEASES, "clock", namespace))["spec"].get("holderIdentity", "") == ""


async def test_concurrent_candidates_never_both_win_thanks_to_conflict_checks(
    kube: Client, namespace: str
) -> None:
    from moco.kube.leaderelection import LeaderElectionConfig, LeaderElector

    electors = [
        LeaderElector(kube, LeaderElectionConfig(namespace, "race", f"c{i}", 3, 2, 0.5)) for i in range(6)
    ]
    tasks = [asyncio.create_task(e.run()) for e in electors]
    try:
        for _ in range(20):  # 3 s, several renewals
            await asyncio.sleep(0.15)
            assert sum(e.is_leader for e in electors) <= 1
        assert sum(e.is_leader for e in electors) == 1
        winner = next(e for e in electors if e.is_leader)
        assert (await kube.get(LEASES, "race", namespace))["spec"]["holderIdentity"] == winner.config.identity
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_lease_is_renewed_however_deep_the_client_rate_limit_is_in_debt(
    apiserver: Envtest, namespace: str
) -> None:
    from moco.kube.leaderelection import LeaderElectionConfig, LeaderElector

    async with await Client.from_kubeconfig(apiserver.kubeconfig, qps=1, burst=1) as c:
        cfg = LeaderElectionConfig(
            namespace, "busy", "me", lease_duration=3, renew_deadline=2, retry_period=0.5
        )
        elector = LeaderElector(c, cfg)
        task = asyncio.create_task(elector.run())
        try:
            await asyncio.wait_for(elector.leading.wait(), 10)
            for _ in range(60):
                c.limiter.reserve()  # a backlog of routine requests: a minute of debt
            await asyncio.sleep(3 * cfg.renew_deadline)
            assert not task.done(), "leadership lost behind the rate limit"
            assert elector.leading.is_set()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
