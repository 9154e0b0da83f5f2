"""``--partition-update-interval`` (unit tier): the token bucket that spaces partition updates
over all clusters, the reconciler holding a step back and counting it in MOCO's
``moco_cluster_partition_update_retries_total{namespace}``, and the flag's Go-duration syntax.
The Kubernetes client and the Event recorder are in-memory stand-ins (machinery only)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from moco.cli.controller import duration, parser
from moco.controllers.partition import PartitionReconciler, UpdateLimiter
from moco.kube.exposition import REGISTRY
from moco.kube.store import Store
from unit_tests.controllers.test_decisions import OLD, cluster, pod, sts


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("interval", "steps", "want"),
    [
        # (seconds since start of each try, allowed?)
        (0.0, [0, 0, 0], [True, True, True]),  # no limit
        (5.0, [0, 0], [True, False]),  # burst 1: the second at once is held back
        (5.0, [0, 4.9, 5.0], [True, False, True]),  # the next token at +interval
        (5.0, [0, 5.0, 9.9, 10.0], [True, True, False, True]),  # interval from the last one passed
        (5.0, [0, 3, 30, 30], [True, False, True, False]),  # no bursts after a pause
    ],
)
def test_limiter(interval: float, steps: list[float], want: list[bool]) -> None:
    clock = Clock()
    start = clock.now
    lim = UpdateLimiter(interval, clock)
    got = []
    for at in steps:
        clock.now = start + at
        got.append(lim.allow())
    assert got == want


def test_limiter_says_how_long_to_wait_and_refuses_a_negative_interval() -> None:
    clock = Clock()
    lim = UpdateLimiter(5.0, clock)
    assert lim.wait() == 0.0
    assert lim.allow()
    clock.now += 2.0
    assert lim.wait() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="--partition-update-interval must be >= 0"):
        UpdateLimiter(-1.0)


class Patches:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def patch(self, _res: object, name: str, patch: dict[str, Any], *_a: object, **_k: object) -> None:
        self.calls.append((name, patch))


class Events:
    async def normal(self, *_a: object) -> None:
        pass


def retries(ns: str) -> float:
    v = REGISTRY.sample_value("moco_cluster_partition_update_retries_total", {"namespace": ns})
    return v or 0.0


def reconciler(ns: str, interval: float) -> tuple[PartitionReconciler, Patches, Clock]:
    clusters, stses, pods = Store(), Store(), Store()
    for name in ("a", "b"):
        c = cluster() | {"metadata": {"name": name, "namespace": ns, "generation": 5}}
        clusters.add(c)
        s = sts(3)
        s["metadata"] |= {
            "name": f"moco-{name}",
            "namespace": ns,
            "ownerReferences": [{"kind": "MySQLCluster", "name": name}],
        }
        stses.add(s)
        for i in range(3):
            p = pod(i, OLD, role="primary" if i == 0 else "replica")
            p["metadata"] |= {"name": f"moco-{name}-{i}", "namespace": ns}
            pods.add(p)
    client = Patches()
    r = PartitionReconciler(client, clusters, stses, pods, recorder=Events(), update_interval=interval)  # type: ignore[arg-type]
    clock = Clock()
    r.limiter = UpdateLimiter(interval, clock)
    return r, client, clock


async def test_a_held_back_update_is_retried_and_counted() -> None:
    r, client, clock = reconciler("ns-limit", 10.0)
    first = await r.reconcile("ns-limit/moco-a")
    assert [name for name, _ in client.calls] == ["moco-a"]
    assert first is not None
    # another cluster's step within the interval: held back, counted, retried when allowed
    clock.now += 4.0
    held = await r.reconcile("ns-limit/moco-b")
    assert [name for name, _ in client.calls] == ["moco-a"]
    assert held is not None
    assert held.requeue_after == pytest.approx(6.0)
    assert retries("ns-limit") == 1
    clock.now += 6.0
    await r.reconcile("ns-limit/moco-b")
    assert [name for name, _ in client.calls] == ["moco-a", "moco-b"]
    assert retries("ns-limit") == 1


async def test_without_a_limit_nothing_is_held_back() -> None:
    r, client, _ = reconciler("ns-nolimit", 0.0)
    await r.reconcile("ns-nolimit/moco-a")
    await r.reconcile("ns-nolimit/moco-b")
    assert len(client.calls) == 2
    assert retries("ns-nolimit") == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("2.5", 2.5), ("5s", 5.0), ("100ms", 0.1), ("1m30s", 90.0), ("1h", 3600.0), (".5s", 0.5)],
)
def test_duration_reads_moco_flags(text: str, seconds: float) -> None:
    assert duration(text) == pytest.approx(seconds)
    assert parser().parse_args(
        ["--partition-update-interval", text]
    ).partition_update_interval == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5x", "s", "-1s", "-3", "5s junk", ""])
def test_duration_refuses_with_the_fix(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="bad duration"):
        duration(text)
