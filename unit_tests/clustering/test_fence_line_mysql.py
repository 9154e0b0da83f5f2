"""The fence line (moco.clustering.fenceline) against real mysqld (mysql tier).

A primary that froze (SIGSTOP here; a paused VM, a stalled machine in production) is failed
over while it sleeps; when it wakes it still believes it is the primary. Its first answer to
anyone must already be read-only, whatever it was doing when it froze. The loop's own passes
are kept out of the way (no ticker to speak of, no re-check of silent instances for 30 s): only
what was sent to the old primary before it woke can fence it in time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import MySQLError

from ..fixtures.clustering import FAST, ClusterFactory, ClusterGround

pytestmark = pytest.mark.mysql

#: no pass but the watch's and the failover's own: a woken instance is not re-checked for 30 s
QUIET = replace(FAST, interval=120.0, unreachable_recheck=30.0)


async def with_data(cg: ClusterGround) -> None:
    """A table on the primary (replicas without data could not take over: the cluster is lost)."""
    await cg.h.wait_healthy(60)
    async with await connect(cg.primary_endpoint()) as c:
        await c.execute("CREATE DATABASE IF NOT EXISTS app")
        await c.execute("CREATE TABLE IF NOT EXISTS app.f (id INT PRIMARY KEY)")


async def quiet_and_healthy(cg: ClusterGround) -> None:
    await cg.h.wait_healthy(60)
    cg.h.proc.cfg = cg.h.proc.watch.cfg = QUIET
    cg.h.proc.wake("quiet")
    await asyncio.sleep(1.5)  # a pass saw the primary writable: the watch follows it
    assert cg.h.proc.watch.target is not None


async def failed_over_while_frozen(cg: ClusterGround, old: int) -> None:
    """Wait until the loop failed over from the frozen ``old`` and opened the new primary."""
    await cg.h.wait_for(lambda: cg.h.primary != old, 20, "failover")
    await cg.h.wait_for(lambda: _opened(cg), 20, "new primary open")
    # the freeze outlives the failover: the passes after it gave up on the old primary
    await asyncio.sleep(2.0)


def _opened(cg: ClusterGround) -> bool:
    reasons = cg.h.kube.reasons()
    return "FailOver" in reasons and "Writable" in reasons[reasons.index("FailOver") :]


async def first_answer(ep: Endpoint) -> tuple[bool, bool]:
    """(read_only, super_read_only) as a client connecting now sees it first; the connect waits in
    the frozen server's listen backlog until it wakes."""
    async with await connect(ep, timeout=30.0, query_timeout=30.0) as c:
        row = await c.query_one("SELECT @@read_only AS ro, @@super_read_only AS sro")
    assert row is not None
    return bool(int(row["ro"])), bool(int(row["sro"]))


async def test_a_woken_frozen_primary_answers_read_only_first(cluster_ground: ClusterFactory) -> None:
    """Nothing was running on it when it froze: its first answer is read-only (the old code
    answered writable until the loop's next pass)."""
    cg = await cluster_ground(3)
    await with_data(cg)
    await quiet_and_healthy(cg)
    old = cg.h.primary
    cg.ms[old].pause()
    try:
        await failed_over_while_frozen(cg, old)
        ask = asyncio.ensure_future(first_answer(cg.app_endpoint(old)))
        await asyncio.sleep(0.3)  # the client waits for the server's greeting
    finally:
        cg.ms[old].resume()
    seen = await ask
    assert seen == (True, True), f"the woken former primary's first answer: read_only, sro = {seen}"
    await cg.h.wait_for(lambda: cg.h.proc.fences.running == 0, 5, "the shot ends once its fence landed")


async def test_a_commit_that_arrived_while_frozen_is_not_acknowledged_and_the_fence_lands(
    cluster_ground: ClusterFactory,
) -> None:
    """A commit sent to the frozen primary runs when it wakes and waits for semi-sync
    acknowledgements nobody sends; the queued fence waits behind it. The shot kills the clients
    and then releases the commit (never acknowledged), and the fence lands: within milliseconds
    when the server has no replica connection left, within about a second when its dump threads
    still run (each must wait for the server's acknowledgement receiver, which polls every
    second, before it leaves: ``ops.release_until_read_only``)."""
    cg = await cluster_ground(3)
    await with_data(cg)
    await quiet_and_healthy(cg)
    old = cg.h.primary
    client = await connect(cg.app_endpoint(old), query_timeout=120.0)
    commit: asyncio.Future[int] | None = None
    try:
        cg.ms[old].pause()
        try:
            # sent now, read by the server when it wakes
            commit = asyncio.ensure_future(client.execute("INSERT INTO app.f VALUES (1)"))
            await failed_over_while_frozen(cg, old)
        finally:
            cg.ms[old].resume()
        t_wake = time.monotonic()
        fenced_after: float | None = None
        async with await connect(cg.admin(old), timeout=5.0) as c:
            while time.monotonic() - t_wake < 5.0:
                row = await c.query_one("SELECT @@read_only AS ro")
                if row is not None and int(row["ro"]):
                    fenced_after = time.monotonic() - t_wake
                    break
                await asyncio.sleep(0.005)
        await asyncio.wait({commit}, timeout=10)
    finally:
        if commit is not None and not commit.done():
            commit.cancel()
        await client.close()
    assert fenced_after is not None, "not fenced within 5 s of waking up"
    assert fenced_after < 2.0, f"fenced {fenced_after:.3f} s after it woke up"
    assert commit.done(), "the commit that arrived while frozen is still waiting"
    with pytest.raises(MySQLError):
        commit.result()  # never acknowledged to its client
