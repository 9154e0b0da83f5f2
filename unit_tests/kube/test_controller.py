"""The controller runner, fed by an in-memory source (no apiserver)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from prometheus_client import REGISTRY

from moco.kube.controller import Controller, Result
from moco.kube.handlers import enqueue_by_label, enqueue_owner, owner_keys
from moco.kube.ratelimit import ItemExponentialBackoff
from moco.kube.workqueue import WorkQueue

_names = itertools.count()


def name() -> str:
    return f"ctl-{next(_names)}"


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


async def until(cond: object, within: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not cond():  # type: ignore[operator]
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


async def run_briefly(ctl: Controller) -> asyncio.Task[None]:
    return asyncio.create_task(ctl.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_success_reconciles_each_key_once_and_forgets_failures() -> None:
    seen: list[str] = []

    async def reconcile(key: str) -> None:
        seen.append(key)

    ctl = Controller(n := name(), reconcile, workers=2)
    for k in ["a/1", "a/2", "a/1"]:
        ctl.queue.add(k)
    t = await run_briefly(ctl)
    await until(lambda: len(seen) == 2)
    await asyncio.sleep(0.05)
    await stop(t)
    assert sorted(seen) == ["a/1", "a/2"]
    assert sample("controller_runtime_reconcile_total", controller=n, result="success") == 2
    assert ctl.queue.num_requeues("a/1") == 0


async def test_error_requeues_with_exponential_backoff_until_success() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    async def reconcile(key: str) -> None:
        calls.append(loop.time())
        if len(calls) < 4:
            raise RuntimeError("not yet")

    ctl = Controller(n := name(), reconcile, rate_limiter=ItemExponentialBackoff(0.02, 1.0))
    ctl.queue.add("k")
    t = await run_briefly(ctl)
    await until(lambda: len(calls) == 4)
    await asyncio.sleep(0.05)
    await stop(t)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert [g >= m for g, m in zip(gaps, [0.015, 0.035, 0.075], strict=True)] == [True] * 3, gaps
    assert sample("controller_runtime_reconcile_errors_total", controller=n) == 3
    assert sample("controller_runtime_reconcile_total", controller=n, result="error") == 3
    assert ctl.queue.num_requeues("k") == 0, "success forgets the failures"


async def test_requeue_after_calls_again_after_the_delay() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    async def reconcile(key: str) -> Result:
        calls.append(loop.time())
        return Result(requeue_after=0.1) if len(calls) == 1 else Result()

    ctl = Controller(n := name(), reconcile)
    ctl.queue.add("k")
    t = await run_briefly(ctl)
    await until(lambda: len(calls) == 2)
    await stop(t)
    assert calls[1] - calls[0] >= 0.09
    assert sample("controller_runtime_reconcile_total", controller=n, result="requeue_after") == 1


async def test_one_hanging_and_one_failing_reconcile_never_stop_the_others() -> None:
    done: Counter[str] = Counter()
    never = asyncio.Event()

    async def reconcile(key: str) -> None:
        if key == "hang":
            await never.wait()
        if key == "fail":
            raise ValueError("boom")
        done[key] += 1

    ctl = Controller(
        name(), reconcile, workers=2, rate_limiter=ItemExponentialBackoff(0.01, 0.05), shutdown_grace=0.1
    )
    ctl.queue.add("hang")
    ctl.queue.add("fail")
    t = await run_briefly(ctl)
    for i in range(20):
        ctl.queue.add(f"k{i}")
    await until(lambda: len(done) == 20)
    await stop(t)
    assert ctl.queue.num_requeues("fail") >= 1


async def test_a_key_is_never_reconciled_by_two_workers_at_once() -> None:
    active: Counter[str] = Counter()
    worst = 0
    calls = 0

    async def reconcile(key: str) -> None:
        nonlocal worst, calls
        active[key] += 1
        worst = max(worst, active[key])
        await asyncio.sleep(0.005)
        active[key] -= 1
        calls += 1

    ctl = Controller(name(), reconcile, workers=4)
    t = await run_briefly(ctl)
    for _ in range(30):
        ctl.queue.add("same")
        await asyncio.sleep(0.002)
    await until(lambda: not ctl.queue.is_processing("same") and len(ctl.queue) == 0)
    await stop(t)
    assert worst == 1
    assert calls >= 2, "adds during processing led to more passes"


async def test_stop_lets_an_inflight_reconcile_finish_within_the_grace() -> None:
    finished = asyncio.Event()
    started = asyncio.Event()

    async def reconcile(key: str) -> None:
        started.set()
        await asyncio.sleep(0.1)
        finished.set()

    ctl = Controller(name(), reconcile, shutdown_grace=2)
    ctl.queue.add("k")
    t = await run_briefly(ctl)
    await asyncio.wait_for(started.wait(), 1)
    await stop(t)
    assert finished.is_set()
    assert ctl.queue.shutting_down


def test_owner_keys_picks_the_controlling_owner_of_the_kind_and_group() -> None:
    obj = {
        "metadata": {
            "namespace": "ns",
            "name": "p",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "name": "sts",
                    "uid": "1",
                    "controller": True,
                },
                {"apiVersion": "moco.cybozu.com/v1beta2", "kind": "MySQLCluster", "name": "c", "uid": "2"},
                {
                    "apiVersion": "moco.cybozu.com/v1beta2",
                    "kind": "MySQLCluster",
                    "name": "d",
                    "uid": "3",
                    "controller": True,
                },
            ],
        }
    }
    assert owner_keys(obj, "StatefulSet", "apps") == ["ns/sts"]
    assert owner_keys(obj, "MySQLCluster", "moco.cybozu.com") == ["ns/d"]
    assert owner_keys(obj, "MySQLCluster", "moco.cybozu.com", only_controller=False) == ["ns/c", "ns/d"]
    assert owner_keys(obj, "StatefulSet", "") == []


async def test_enqueue_owner_enqueues_old_and_new_owners_on_update() -> None:
    q: WorkQueue[str] = WorkQueue(name())
    h = enqueue_owner(q, "Thing", "x.io")

    def dep(owner: str) -> dict[str, object]:
        ref = {"apiVersion": "x.io/v1", "kind": "Thing", "name": owner, "uid": owner, "controller": True}
        return {"metadata": {"namespace": "ns", "name": "d", "ownerReferences": [ref]}}

    h.on_update(dep("old"), dep("new"))
    got = sorted([await q.get(), await q.get()])
    assert got == ["ns/new", "ns/old"]


async def test_enqueue_by_label_uses_the_label_and_namespace_label() -> None:
    q: WorkQueue[str] = WorkQueue(name())
    h = enqueue_by_label(q, "app.kubernetes.io/instance", "app.kubernetes.io/instance-namespace")
    h.on_add({"metadata": {"namespace": "ns", "name": "x", "labels": {"app.kubernetes.io/instance": "c"}}})
    labels = {"app.kubernetes.io/instance": "c2", "app.kubernetes.io/instance-namespace": "other"}
    h.on_delete({"metadata": {"namespace": "ns", "name": "y", "labels": labels}})
    h.on_add({"metadata": {"namespace": "ns", "name": "z"}})
    assert [await q.get(), await q.get()] == ["ns/c", "other/c2"]
    assert len(q) == 0
