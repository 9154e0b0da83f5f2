"""The work queue's rules, one test per rule (see moco.kube.workqueue's docstring)."""

from __future__ import annotations

import asyncio

import pytest

from moco.kube.ratelimit import ItemExponentialBackoff
from moco.kube.workqueue import ShutDown, WorkQueue


async def get_now(q: WorkQueue[str]) -> str:
    return await asyncio.wait_for(q.get(), 0.5)


async def nothing_within(q: WorkQueue[str], seconds: float) -> bool:
    try:
        await asyncio.wait_for(q.get(), seconds)
    except TimeoutError:
        return True
    return False


async def test_rule1_dirty_set_deduplicates_keys_added_before_processing() -> None:
    q: WorkQueue[str] = WorkQueue("t1")
    for _ in range(3):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await get_now(q) == "a"
    assert await get_now(q) == "b"
    assert await nothing_within(q, 0.05)


async def test_rule2_a_key_being_processed_is_not_handed_to_a_second_worker() -> None:
    q: WorkQueue[str] = WorkQueue("t2")
    q.add("a")
    assert await get_now(q) == "a"
    q.add("a")  # re-added while the first worker still holds it
    assert q.is_processing("a")
    assert await nothing_within(q, 0.05), "a second worker must not get 'a' while it is processed"


async def test_rule3_key_readded_while_processing_is_processed_again_after_done() -> None:
    q: WorkQueue[str] = WorkQueue("t3")
    q.add("a")
    assert await get_now(q) == "a"
    q.add("a")
    q.add("a")
    assert len(q) == 0
    q.done("a")
    assert len(q) == 1
    assert await get_now(q) == "a"
    q.done("a")
    assert await nothing_within(q, 0.05), "processed once more, not once per add"


async def test_rule3_done_without_readd_does_not_requeue() -> None:
    q: WorkQueue[str] = WorkQueue("t3b")
    q.add("a")
    await get_now(q)
    q.done("a")
    assert len(q) == 0
    assert not q.is_processing("a")


async def test_rule4_keys_are_handed_out_in_first_added_order() -> None:
    q: WorkQueue[str] = WorkQueue("t4")
    for k in ["c", "a", "b", "a", "c"]:
        q.add(k)
    assert [await get_now(q) for _ in range(3)] == ["c", "a", "b"]


async def test_rule4_a_waiting_worker_is_woken_by_add() -> None:
    q: WorkQueue[str] = WorkQueue("t4b")
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 0.5) == "x"


async def test_rule5_add_after_adds_the_key_when_the_delay_has_passed() -> None:
    q: WorkQueue[str] = WorkQueue("t5")
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("a", 0.1)
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 1) == "a"
    assert loop.time() - start >= 0.09


async def test_rule5_add_after_keeps_the_earliest_time() -> None:
    q: WorkQueue[str] = WorkQueue("t5b")
    loop = asyncio.get_running_loop()
    q.add_after("a", 1.0)
    first = q.waiting("a")
    q.add_after("a", 5.0)  # later: ignored
    assert q.waiting("a") == first
    q.add_after("a", 0.05)  # earlier: brings it forward
    earlier = q.waiting("a")
    assert earlier is not None
    assert first is not None
    assert earlier < first
    start = loop.time()
    assert await asyncio.wait_for(q.get(), 2) == "a"
    assert loop.time() - start < 0.8
    q.done("a")
    assert await nothing_within(q, 1.1), "the superseded timers must not add the key again"


async def test_rule5_add_after_with_no_delay_adds_at_once() -> None:
    q: WorkQueue[str] = WorkQueue("t5c")
    q.add_after("a", 0)
    assert len(q) == 1


async def test_rule6_add_rate_limited_waits_the_limiters_delay_and_forget_resets_it() -> None:
    q: WorkQueue[str] = WorkQueue("t6", ItemExponentialBackoff(0.2, 10.0))
    loop = asyncio.get_running_loop()
    q.add_rate_limited("a")  # 0.2 s
    q.add_rate_limited("a")  # 0.4 s, but the pending 0.2 s is earlier and wins
    assert q.num_requeues("a") == 2
    start = loop.time()
    assert await asyncio.wait_for(q.get(), 2) == "a"
    assert 0.19 <= loop.time() - start < 0.39
    q.done("a")
    q.add_rate_limited("a")  # third failure: 0.8 s
    w = q.waiting("a")
    assert w is not None
    assert w - loop.time() > 0.7
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_rule7_after_shutdown_adds_are_ignored_queued_keys_drain_then_get_raises() -> None:
    q: WorkQueue[str] = WorkQueue("t7")
    q.add("a")
    q.shutdown()
    q.add("b")
    q.add_after("c", 0.01)
    assert await get_now(q) == "a"
    with pytest.raises(ShutDown):
        await get_now(q)


async def test_rule7_shutdown_wakes_every_waiting_worker() -> None:
    q: WorkQueue[str] = WorkQueue("t7b")
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0.01)
    q.shutdown()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ShutDown) for r in results)


async def test_a_cancelled_waiter_passes_its_wakeup_on() -> None:
    q: WorkQueue[str] = WorkQueue("t8")
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    q.add("a")
    first.cancel()  # woken but cancelled before it ran
    assert await asyncio.wait_for(second, 0.5) == "a"
