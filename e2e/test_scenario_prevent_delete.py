"""Prevent-delete: with ``spec.maxDelaySecondsForPodDeletion``, the primary's Pod cannot be
deleted while a replica lags beyond it, and can be once the replica caught up.

A replica is delayed (``SOURCE_DELAY``) and a row written: the loop annotates the primary's Pod
``moco.cybozu.com/prevent-delete: "true"`` and ``kubectl delete pod`` is refused by the
``moco-prevent-delete`` admission policy with a message naming the annotation. The delay lifted,
the annotation goes, the deletion goes through and the cluster is Healthy again on another
primary with the row on every instance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl, KubectlError
from e2e.mysql_access import WRITABLE, access
from moco.mysql.conn import Endpoint, connect

#: cluster creation (up to 10 minutes on a loaded machine) + the scenario.
pytestmark = pytest.mark.timeout(1500)

NAME = "prevent-delete"
ANNOTATION = "moco.cybozu.com/prevent-delete"
BOUND = 5
ADMIN = ("moco-admin", "ADMIN_PASSWORD")


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "prevent-delete") as k:
        manifest = mc.minimal(NAME, str(k.namespace), replicas=3)
        manifest["spec"]["maxDelaySecondsForPodDeletion"] = BOUND
        mc.apply(k, manifest)
        mc.wait_healthy(k, NAME)
        yield k


def _annotation(k: Kubectl, pod: str) -> str | None:
    value = (k.get("pod", pod)["metadata"].get("annotations") or {}).get(ANNOTATION)
    return None if value is None else str(value)


async def _source_delay(ep: Endpoint, seconds: int) -> None:
    async with await connect(ep, timeout=10) as c:
        await c.execute("STOP REPLICA SQL_THREAD")
        await c.execute("CHANGE REPLICATION SOURCE TO SOURCE_DELAY = %s", (seconds,))
        await c.execute("START REPLICA SQL_THREAD")


async def test_primary_pod_is_kept_while_a_replica_lags(k: Kubectl) -> None:
    primary = mc.primary_index(k, NAME)
    lagging = (primary + 1) % 3
    ppod = f"moco-{NAME}-{primary}"
    with access(k, NAME) as acc:
        assert acc.direct, "the scenario delays a replica through its Pod IP (direct route)"
        replica = acc.instances(ADMIN)[lagging]
        await _source_delay(replica, 3600)
        async with await connect(acc.primary(WRITABLE), timeout=10) as c:
            await c.execute("CREATE DATABASE IF NOT EXISTS pd")
            await c.execute("CREATE TABLE IF NOT EXISTS pd.t (id INT PRIMARY KEY)")
            await c.execute("INSERT INTO pd.t VALUES (1)")
        await asyncio.to_thread(
            mc.wait, k, NAME, "the primary's Pod annotated", lambda: _annotation(k, ppod) == "true", 120
        )
        with pytest.raises(KubectlError) as refused:
            k("delete", "pod", ppod, "--wait=false")
        message = str(refused.value)
        assert ANNOTATION in message, message
        assert "maxDelaySecondsForPodDeletion" in message, message
        assert k.get("pod", ppod)["metadata"].get("deletionTimestamp") is None

        await _source_delay(replica, 0)
        await asyncio.to_thread(
            mc.wait, k, NAME, "the annotation removed", lambda: _annotation(k, ppod) is None, 120
        )
    k("delete", "pod", ppod, "--wait=false")
    mc.wait(k, NAME, "another primary", lambda: mc.primary_index(k, NAME) != primary, timeout=300)
    mc.wait_healthy(k, NAME)
    with access(k, NAME) as acc:
        for ep in acc.instances(ADMIN):
            async with await connect(ep, timeout=10) as c:
                row = await c.query_one("SELECT COUNT(*) AS n FROM pd.t")
            assert row is not None
            assert int(row["n"]) == 1
