"""Stopping a task for sure (:mod:`moco.tasks`), and the stops built on it.

A CI run lost ten minutes in a clustering fixture's teardown: the loop kept passing once a
second after the test ended, so the stop's single ``cancel()`` had been swallowed (Python
3.11's ``asyncio.wait_for`` returns the result instead of raising when the awaited future
completes in the same loop iteration as the cancel; aiomysql's connect awaits through it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import pytest

from moco.clustering.config import ProcessConfig
from moco.clustering.watch import PrimaryWatch
from moco.tasks import cancel_and_wait, gather_all


async def _swallows_first_cancel(started: asyncio.Event, stopped: list[str]) -> None:
    """Python 3.11's wait_for race, made certain: the cancel lands while the future completes."""
    loop = asyncio.get_running_loop()
    started.set()
    swallowed = False
    try:
        while True:
            fut: asyncio.Future[int] = loop.create_future()
            loop.call_soon(fut.set_result, 1)
            try:
                await fut
            except asyncio.CancelledError:
                if not swallowed:  # what wait_for does when the inner future is already done
                    swallowed = True
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    continue
                raise
            await asyncio.sleep(0.01)
    finally:
        stopped.append("stopped")


async def _ends_within(stop: Coroutine[Any, Any, None], inner: asyncio.Task[None]) -> None:
    """``stop`` ends within 3 s by itself (``asyncio.wait`` never cancels what it waits for: a
    timeout that cancelled the stop would cancel ``inner`` a second time and hide the hang)."""
    stopper = asyncio.create_task(stop)
    done, _ = await asyncio.wait({stopper}, timeout=3)
    if stopper not in done:
        inner.cancel()  # end the test's tasks before failing
        await asyncio.wait({stopper}, timeout=3)
        pytest.fail("the stop hangs on a task that swallowed its cancel")
    stopper.result()


async def test_rule_1_a_swallowed_cancel_is_sent_again() -> None:
    started, stopped = asyncio.Event(), list[str]()
    task = asyncio.create_task(_swallows_first_cancel(started, stopped))
    await started.wait()
    await _ends_within(cancel_and_wait(task, nudge=0.05), task)
    assert task.cancelled()
    assert stopped == ["stopped"]


async def test_rule_2_a_task_failing_on_its_own_raises_its_error() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        await cancel_and_wait(task)


async def test_rule_3_the_callers_own_cancel_is_not_swallowed() -> None:
    started, stopped = asyncio.Event(), list[str]()
    inner = asyncio.create_task(_swallows_first_cancel(started, stopped))
    await started.wait()
    outer = asyncio.create_task(cancel_and_wait(inner, nudge=10))
    await asyncio.sleep(0.05)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    await cancel_and_wait(inner, nudge=0.05)


async def test_a_watch_whose_task_swallows_a_cancel_still_stops() -> None:
    watch = PrimaryWatch(ProcessConfig(), lambda *a: None, cluster="c", namespace="ns")
    started, stopped = asyncio.Event(), list[str]()
    watch._task = asyncio.create_task(_swallows_first_cancel(started, stopped))
    await started.wait()
    inner = watch._task
    await _ends_within(watch.stop(), inner)
    assert stopped == ["stopped"]


# --- gather_all ---------------------------------------------------------------------------------
async def _slow_writer(log: list[str], name: str, seconds: float) -> int:
    """A part whose cleanup takes ``seconds`` (an unpacking thread finishing its write), waited
    for through any cancellation, as ``archive.download_unpack`` waits for its thread."""
    try:
        await asyncio.sleep(3600)
    finally:
        cleanup = asyncio.ensure_future(asyncio.sleep(seconds))
        while not cleanup.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({cleanup})
        log.append(name)
    return 0


async def _fails(after: float) -> int:
    await asyncio.sleep(after)
    raise ValueError("part failed")


async def test_plain_gather_returns_before_the_others_end() -> None:
    """The defect gather_all exists for: a restore's parts were unpacked by gather, and a
    cancelled or failed restore removed its staging directory while other parts still wrote."""
    log: list[str] = []
    slow = asyncio.ensure_future(_slow_writer(log, "slow", 0.05))
    with pytest.raises(ValueError, match="part failed"):
        await asyncio.gather(_fails(0.01), slow)
    assert not slow.done()  # returned while the other part still runs (and is not even cancelled)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert log == ["slow"]


async def test_rule_4_results_in_order() -> None:
    async def value(v: int, after: float) -> int:
        await asyncio.sleep(after)
        return v

    assert await gather_all(value(1, 0.02), value(2, 0.0), value(3, 0.01)) == [1, 2, 3]
    assert await gather_all() == []


async def test_rule_5_a_failure_waits_for_every_other_awaitable() -> None:
    log: list[str] = []
    with pytest.raises(ValueError, match="part failed"):
        await gather_all(_fails(0.01), _slow_writer(log, "a", 0.2), _slow_writer(log, "b", 0.1))
    assert sorted(log) == ["a", "b"]


async def test_rule_6_the_callers_cancel_waits_for_every_awaitable_and_propagates() -> None:
    log: list[str] = []
    task = asyncio.create_task(gather_all(_slow_writer(log, "a", 0.2), _slow_writer(log, "b", 0.1)))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.12)
    task.cancel()  # a second cancel (cancel_and_wait nudges) does not cut the wait short
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(log) == ["a", "b"]
