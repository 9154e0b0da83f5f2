"""The fault soak (``make soak``), short: 30 seeded faults against the real loop on real mysqld.

The mysql-tier test asserts the soak's targets: no acknowledged write lost, no sampling round
with two servers able to acknowledge a commit, two writable servers (a resumed frozen former
primary) for at most ``TARGET_TWO_WRITABLE_RUN_S``, at most 30 s without a writable primary, the
cluster Healthy again after every episode. Its timeline is printed (pytest shows it on failure)
and the failure message carries the seed and the result; replay it with
``python -m moco.bench.soak --seed SEED --faults 30``.

The unit tests (no marker) check the parts the soak relies on: the same seed draws the same
plan, and the lagging Kubernetes side serves old views without ever going back in time.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from dataclasses import replace

import pytest

from moco.bench.soak import TARGET_TWO_WRITABLE_RUN_S, SoakConfig, draw_episode, run
from moco.clustering.interfaces import StatusUpdate
from moco.clustering.memory import MemoryKube, make_pods
from moco.clustering.types import ClusterSpecView
from moco.testing.lagging import LaggingKube
from moco.testing.sampler import Reading, mark_commit_ability

from ..fixtures.clustering import CREDS


def _plan(seed: int, n: int) -> list[tuple[str, list[tuple[str, str, str, float, float]]]]:
    rng = random.Random(seed)
    cfg = SoakConfig(seed=seed)
    out: list[tuple[str, list[tuple[str, str, str, float, float]]]] = []
    for k in range(n):
        ep = draw_episode(rng, k + 1, cfg, k + 1)
        out.append((ep.kind, [(s.fault.kind, s.role, s.fault.params(), s.at, s.until) for s in ep.steps]))
    return out


def test_same_seed_same_plan() -> None:
    assert _plan(7, 50) == _plan(7, 50)
    assert _plan(7, 50) != _plan(8, 50)
    kinds = {k for k, _ in _plan(7, 200)}
    assert {"kill-primary", "pause-primary", "switchover-long-trx", "switchover-read-lock"} <= kinds


class _Addr:
    def __init__(self, port: int) -> None:
        self.host, self.port, self.admin_port = "127.0.0.1", port, port + 1


async def test_lagging_kube_serves_old_views_monotonically() -> None:
    cluster = ClusterSpecView(name="c", namespace="default", replicas=3)
    kube = MemoryKube(cluster, make_pods("c", [_Addr(3306 + 10 * i) for i in range(3)]), CREDS)
    lag = LaggingKube(kube, random.Random(1), resolution=0.01)
    await lag.start()
    try:
        # fresh while no lag is set
        kube.status.current_primary_index = 1
        assert (await lag.get_cluster()) is not None
        assert (await lag.get_cluster()).current_primary_index == 1  # type: ignore[union-attr]
        lag.set_lag(0.6)
        await asyncio.sleep(0.1)
        kube.status.current_primary_index = 2
        kube.set_pod(0, ready=False)
        seen = []
        for _ in range(40):
            c = await lag.get_cluster()
            assert c is not None
            pods = {p.index: p for p in await lag.list_pods()}
            seen.append((c.current_primary_index, pods[0].ready))
            await asyncio.sleep(0.025)
        # the change shows only after a while, and once shown never goes back
        assert seen[0] == (1, True), seen
        primaries = [p for p, _ in seen]
        assert 2 in primaries, seen
        assert primaries == sorted(primaries), seen
        assert lag.stale_reads > 0
        assert lag.largest_served_age <= 0.6 + 0.1
        # writes go through at once
        await lag.set_role_label(kube.pod(1).name, "primary")
        assert kube.pod(1).role == "primary"
        # only the Pods lag when the cluster view is read uncached
        lag.lag_cluster = False
        kube.status.current_primary_index = 0
        assert (await lag.get_cluster()).current_primary_index == 0  # type: ignore[union-attr]
        lag.set_lag(0.0)
        kube.set_pod(0, ready=True)
        assert {p.index: p.ready for p in await lag.list_pods()}[0]
    finally:
        await lag.stop()


@pytest.mark.parametrize("before", [True, False])
async def test_write_trap_ends_the_caller_at_the_nth_write(before: bool) -> None:
    cluster = ClusterSpecView(name="c", namespace="default", replicas=3)
    kube = MemoryKube(cluster, make_pods("c", [_Addr(3306 + 10 * i) for i in range(3)]), CREDS)
    lag = LaggingKube(kube, random.Random(1))
    trap = lag.trap_write(2, before=before)
    done: list[int] = []

    async def operation() -> None:
        await lag.update_status(StatusUpdate(current_primary_index=1))
        done.append(1)
        await lag.remove_demote_annotation(kube.pod(0).name)
        done.append(2)

    kube.set_pod(0, demote=True)
    task = asyncio.create_task(operation())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert trap.fired.is_set()
    assert trap.fired_at == f"remove_demote_annotation({kube.pod(0).name})"
    assert done == [1]
    assert kube.status.current_primary_index == 1
    assert kube.pod(0).demote is before  # the write landed only when the crash came after it
    # disarmed once fired
    await lag.update_status(StatusUpdate(current_primary_index=2))
    assert kube.status.current_primary_index == 2


def test_commit_ability_needs_replicas_on_both_sides() -> None:
    def r(name: str, uuid: str, **kw: object) -> Reading:
        return Reading(name, read_only=False, super_read_only=False, server_time=0.0, uuid=uuid, **kw)  # type: ignore[arg-type]

    # every instance listens on the same port (as in Kubernetes): replicas are told by UUID
    new = r("m2", "u2", semisync_source=True, wait_count=1, semisync_clients=1)
    replica = replace(
        r("m3", "u3", source_uuid="u2", io_on=True, semisync_replica=True),
        read_only=True,
        super_read_only=True,
    )
    # a former primary just resumed: it still counts the replica that left it while frozen
    old = r("m1", "u1", semisync_source=True, wait_count=1, semisync_clients=1)
    out = {x.name: x.can_commit for x in mark_commit_ability([old, new, replica])}
    assert out == {"m1": False, "m2": True, "m3": False}
    # semi-sync off: writable is enough
    assert mark_commit_ability([r("m1", "u1")])[0].can_commit


@pytest.mark.mysql
@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_soak_short() -> None:
    seed = int(os.environ.get("MOCO_SOAK_SEED", "20261201"))
    cfg = SoakConfig(seed=seed, faults=30, max_duration=420.0, healthy_timeout=90.0)
    result = await run(cfg)
    detail = json.dumps(result)
    assert result["faults"] >= 30, detail
    assert result["acknowledged_writes"] > 1000, detail
    assert result["sampler_rounds"] > 1000, detail
    assert result["stuck"] == "", f"seed={seed}: {detail}"
    assert result["lost_acknowledged_writes"] == 0, f"seed={seed}: {detail}"
    assert result["two_committing_samples"] == 0, f"seed={seed}: {detail}"
    assert result["two_writable_longest_run_s"] <= TARGET_TWO_WRITABLE_RUN_S, f"seed={seed}: {detail}"
    assert result["longest_no_primary_s"] <= 30.0, f"seed={seed}: {detail}"
    assert all(n == 0 for n in result["replica_missing"].values()), f"seed={seed}: {detail}"
    assert result["failovers"] >= 1, detail
    assert result["switchovers"] >= 1, detail
    assert result["ok"], detail


def test_config_defaults_are_make_soak() -> None:
    cfg = SoakConfig(seed=1)
    assert cfg.faults >= 200
    assert replace(cfg, faults=30).faults == 30
