"""The primary watch (moco.clustering.watch) against real mysqld (mysql tier).

The Kubernetes side here never reports anything about the mysqlds (no Pod event, no readiness
change: as for a dead or cut-off machine, whose Pods stay Running for tens of seconds), and the
loop's ticker is two minutes: only the watch can notice that the primary is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import replace

import pytest

from moco.clustering.types import ClusterState
from moco.clustering.watch import PrimaryWatch
from moco.mysql.conn import Connection, connect
from moco.mysql.status import get_status
from moco.testing.mysqld import MysqldGround

from ..fixtures.clustering import FAST, ClusterFactory, ClusterGround, checker_for, new_instances

pytestmark = pytest.mark.mysql

#: no ticker to speak of: a pass comes from the watch or not at all
SLOW_TICK = replace(FAST, interval=120.0)


async def healthy_then_slow_ticker(cg: ClusterGround) -> None:
    """Bootstrap on the fast ticker, then leave the loop to the watch (and its own wake-ups)."""
    await cg.h.wait_healthy(60)
    cg.h.proc.cfg = SLOW_TICK
    cg.h.proc.wake("slow ticker")
    await asyncio.sleep(1.5)  # a pass saw the primary writable: the watch follows it
    assert cg.h.proc.watch.target is not None


async def test_the_watch_reports_answers_silence_and_refusals(mysqld_ground: MysqldGround) -> None:
    (m,) = await new_instances(mysqld_ground, 1)
    reports: list[tuple[int, bool, bool]] = []
    seen = asyncio.Event()

    def on_result(index: int, at: float, answered: bool, refused: bool) -> None:
        reports.append((index, answered, refused))
        seen.set()

    async def next_report(within: float) -> tuple[int, bool, bool]:
        seen.clear()
        await asyncio.wait_for(seen.wait(), within)
        return reports[-1]

    cfg = replace(FAST, watch_interval=0.2, watch_timeout=0.5)
    w = PrimaryWatch(cfg, on_result, cluster="c", namespace="ns")
    w.start()
    try:
        w.follow(0, m.admin_endpoint())
        assert await next_report(5) == (0, True, False)
        m.pause()
        try:
            t0 = time.monotonic()
            while (r := await next_report(5)) != (0, False, False):
                pass
            assert time.monotonic() - t0 < 3, "a frozen primary is reported within a few tries"
        finally:
            m.resume()
        while (r := await next_report(5)) != (0, True, False):
            pass
        m.kill()
        while (r := await next_report(5))[1]:
            pass
        assert r == (0, False, True), "a dead mysqld on a live host refuses"
        w.forget()
        n = len(reports)
        await asyncio.sleep(1.0)
        assert len(reports) == n, "a forgotten primary is not watched"
    finally:
        await w.stop()
        await asyncio.to_thread(mysqld_ground.discard, m)


async def test_a_primary_that_does_not_answer_is_tried_once_per_interval(mysqld_ground: MysqldGround) -> None:
    """Rule 3: a refused try (at once) is followed by ``watch_interval`` of waiting, not by the
    next try: a dead primary must not be hammered, nor the loop woken hundreds of times."""
    (m,) = await new_instances(mysqld_ground, 1)
    failed: list[float] = []
    w = PrimaryWatch(
        replace(FAST, watch_interval=0.5, watch_timeout=0.5),
        lambda index, at, ok, refused: None if ok else failed.append(at),
        cluster="c",
        namespace="ns",
    )
    m.kill()
    w.start()
    try:
        w.follow(0, m.admin_endpoint())
        await asyncio.sleep(2.0)
    finally:
        await w.stop()
        await asyncio.to_thread(mysqld_ground.discard, m)
    assert 2 <= len(failed) <= 6, f"{len(failed)} tries in 2 s at watch_interval 0.5 s"


@pytest.mark.parametrize(
    "sig",
    # SIGKILL: the kernel closes mysqld's sockets; SIGTERM (``kill 1``): mysqld closes its
    # clients' connections as its shutdown begins
    [signal.SIGKILL, signal.SIGTERM],
    ids=["killed", "shutting-down"],
)
async def test_a_mysqld_that_ends_is_reported_at_once_not_at_the_next_ping(
    mysqld_ground: MysqldGround, sig: signal.Signals
) -> None:
    """Rule 3: between tries the watch waits on the server, so the end of its connection is the
    news; the try it starts at once is refused."""
    (m,) = await new_instances(mysqld_ground, 1)
    reports: list[tuple[float, bool, bool]] = []
    answered, failed_try = asyncio.Event(), asyncio.Event()

    def on_result(index: int, at: float, ok: bool, refused: bool) -> None:
        reports.append((at, ok, refused))
        (answered if ok else failed_try).set()

    # a ping every 10 s: a report sooner than that can only come from the lost connection
    w = PrimaryWatch(
        replace(FAST, watch_interval=10.0, watch_timeout=1.0), on_result, cluster="c", namespace="ns"
    )
    w.start()
    try:
        w.follow(0, m.admin_endpoint())
        await asyncio.wait_for(answered.wait(), 5)
        await asyncio.sleep(0.3)  # the watch waits between tries now
        assert m.pid is not None
        t0 = time.monotonic()
        os.kill(m.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(failed_try.wait(), 3.0)
        failed = [(at - t0, refused) for at, ok, refused in reports if not ok]
        assert failed, f"no failed try reported within 3 s of the {sig.name} (watch_interval 10 s)"
        took, refused = failed[0]
        assert took < 3.0
        assert refused, "a mysqld that ended on a live host refuses the reconnect"
    finally:
        await w.stop()
        await asyncio.to_thread(mysqld_ground.discard, m)


@pytest.mark.parametrize(
    ("sig", "bound"),
    [
        # a machine's view of a dead process: no Pod event, no wake-up
        (signal.SIGKILL, 6.0),
        # ``kill 1`` in the mysqld container: a graceful shutdown takes seconds, during which the
        # container runs; the refusals are the evidence, not the container's exit
        (signal.SIGTERM, 4.0),
    ],
    ids=["killed", "shutting-down-before-it-exits"],
)
async def test_a_primary_whose_mysqld_ends_is_failed_over_without_any_event(
    cluster_ground: ClusterFactory, sig: signal.Signals, bound: float
) -> None:
    cg = await cluster_ground(3)
    await healthy_then_slow_ticker(cg)
    chk = checker_for(cg)
    async with chk:
        await asyncio.sleep(0.5)
        old = cg.h.primary
        pid = cg.ms[old].pid
        assert pid is not None
        t0 = time.monotonic()
        os.kill(pid, sig)
        await cg.h.wait_for(lambda: cg.h.primary != old, 15, "failover")
        took = time.monotonic() - t0
        await asyncio.sleep(0.5)
    rep = await chk.verify(cg.admin(cg.h.primary))
    assert rep.ok, rep.describe()
    # the watch notices within watch_interval; refusals confirm after refused_after
    assert took < bound, f"failover took {took:.1f} s"
    (msg,) = [m for _, r, m in cg.h.kube.events if r == "FailOver"]
    assert "refuses connections" in msg, msg


async def test_a_frozen_primary_is_failed_over_and_fenced_when_it_wakes(
    cluster_ground: ClusterFactory,
) -> None:
    cg = await cluster_ground(3)
    await healthy_then_slow_ticker(cg)
    chk = checker_for(cg)
    old = cg.h.primary
    async with chk:
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        cg.ms[old].pause()
        try:
            await cg.h.wait_for(lambda: cg.h.primary != old, 20, "failover")
            took = time.monotonic() - t0
        finally:
            cg.ms[old].resume()
        # it may hold errant transactions (commits in flight when it froze): Degraded, fenced
        await cg.h.wait_for(
            lambda: cg.h.state in (ClusterState.HEALTHY, ClusterState.DEGRADED), 60, "settled"
        )
        await asyncio.sleep(0.5)
    async with await connect(cg.admin(old)) as c:
        assert (await get_status(c)).super_read_only, "the woken former primary is fenced"
    rep = await chk.verify(cg.admin(cg.h.primary))
    # the woken former primary is read_only=0 until fenced (it cannot acknowledge: see
    # moco.bench.soak), so only the acknowledged writes are checked here
    assert not rep.missing, rep.describe()
    assert took < 10, f"failover took {took:.1f} s"
    (msg,) = [m for _, r, m in cg.h.kube.events if r == "FailOver"]
    assert "does not answer" in msg, msg


async def test_a_blip_shorter_than_the_evidence_span_is_no_failover(cluster_ground: ClusterFactory) -> None:
    cg = await cluster_ground(3)
    await healthy_then_slow_ticker(cg)
    old = cg.h.primary
    cg.ms[old].pause()
    await asyncio.sleep(1.0)
    cg.ms[old].resume()
    await asyncio.sleep(4.0)
    assert cg.h.primary == old
    assert "FailOver" not in cg.h.kube.reasons()


async def test_a_silent_former_primary_does_not_hold_the_pass_that_opens_the_new_one(
    cluster_ground: ClusterFactory,
) -> None:
    """After a failover from a dead machine the next pass makes the new primary writable; with
    the operator's own bounds (3 tries of a 3 s connect) reading the dead one again held that
    pass for 10 s. A known-silent instance gets one short try."""
    cg = await cluster_ground(3)
    await healthy_then_slow_ticker(cg)
    cfg = replace(SLOW_TICK, connect_timeout=3.0, status_retries=3, status_retry_interval=0.5)
    cg.h.proc.cfg = cg.h.proc.watch.cfg = cfg
    async with checker_for(cg):  # replicas with data: a lost primary leaves the cluster Failed
        await asyncio.sleep(0.5)
    old = cg.h.primary
    cg.ms[old].pause()
    try:
        await cg.h.wait_for(lambda: "FailOver" in cg.h.kube.reasons(), 30, "failover")
        t_failover = time.monotonic()
        n = len(cg.h.kube.events)
        await cg.h.wait_for(
            lambda: any(r == "Writable" for _, r, _ in cg.h.kube.events[n:]), 30, "the new primary writable"
        )
        opened = time.monotonic() - t_failover
    finally:
        cg.ms[old].resume()
    assert opened < 4, f"the new primary was opened {opened:.1f} s after the failover"


async def test_the_watch_keeps_an_idle_fence_line_and_opens_it_again(mysqld_ground: MysqldGround) -> None:
    """Rule 5: after an answer the watch has an idle connection to the primary for a failover to
    take; taken, it is opened again; a restarted server's is replaced; another index or a
    forgotten primary gets none."""
    (m,) = await new_instances(mysqld_ground, 1)
    w = PrimaryWatch(
        replace(FAST, watch_interval=0.2, watch_timeout=1.0), lambda *a: None, cluster="c", namespace="ns"
    )

    async def line(index: int = 0, within: float = 5.0) -> Connection | None:
        deadline = time.monotonic() + within
        while True:
            got = w.take_line(index)
            if got is not None or time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.05)

    async def answers(c: Connection | None) -> None:
        assert c is not None
        assert not c.hung_up
        assert await c.query_one("SELECT 1 AS x") == {"x": 1}
        await c.close()

    w.start()
    try:
        w.follow(0, m.admin_endpoint())
        first = await line()
        assert first is not None
        second = await line()
        assert second is not None, "a taken line is opened again"
        assert first.thread_id != second.thread_id
        await answers(first)
        await answers(second)
        await answers(await line())  # held again
        await asyncio.sleep(0.5)
        await asyncio.to_thread(m.restart)
        await answers(await line(within=10.0))  # a restarted server's line is replaced
        assert await line(index=1, within=0.5) is None, "no line for another index"
        await asyncio.sleep(0.5)
        w.forget()
        await asyncio.sleep(0.3)
        assert w.take_line(0) is None, "a forgotten primary has no line"
    finally:
        await w.stop()
        await asyncio.to_thread(mysqld_ground.discard, m)
