"""The manager's life cycle without an apiserver (no informers, no election)."""

from __future__ import annotations

import asyncio
from typing import cast

import aiohttp

from moco.kube.client import Client
from moco.kube.manager import EXIT_FAILED, EXIT_OK, Manager, ManagerOptions

NO_CLIENT = cast(Client, object())  # never used: no informer, no leader election


def options() -> ManagerOptions:
    return ManagerOptions(http_address=("127.0.0.1", 0), handle_signals=False)


async def test_stop_ends_runnables_and_returns_zero() -> None:
    mgr = Manager(NO_CLIENT, options())
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    mgr.add_runnable(work)
    run = asyncio.create_task(mgr.run())
    await asyncio.wait_for(started.wait(), 2)
    assert mgr.synced
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{mgr.http_port}/readyz") as r:
            assert r.status == 200
        async with http.get(f"http://127.0.0.1:{mgr.http_port}/metrics") as r:
            assert "workqueue_depth" in await r.text()
    mgr.stop()
    assert await asyncio.wait_for(run, 5) == EXIT_OK
    assert cancelled.is_set()


async def test_a_failing_runnable_ends_the_manager_non_zero_and_stops_the_others() -> None:
    mgr = Manager(NO_CLIENT, options())
    other_cancelled = asyncio.Event()

    async def broken() -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("broken runnable")

    async def other() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            other_cancelled.set()
            raise

    mgr.add_runnable(broken, name="broken")
    mgr.add_runnable(other, name="other", leader_only=False)
    assert await asyncio.wait_for(mgr.run(), 5) == EXIT_FAILED
    assert "broken" in mgr.exit_reason
    assert other_cancelled.is_set()


async def test_a_runnable_that_returns_does_not_end_the_manager() -> None:
    mgr = Manager(NO_CLIENT, options())

    async def once() -> None:
        return None

    mgr.add_runnable(once)
    run = asyncio.create_task(mgr.run())
    await asyncio.sleep(0.2)
    assert not run.done()
    mgr.stop()
    assert await asyncio.wait_for(run, 5) == EXIT_OK
