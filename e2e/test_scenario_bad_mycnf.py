"""A bad my.cnf never takes a running cluster down: the rollout stops, the Pods keep theirs.

A 3-instance cluster with a user ConfigMap runs under writes (the acknowledged-write checker).
The user adds ``query_cache_size`` (removed in MySQL 8.0: 9.7's mysqld refuses to start with it)
to the ConfigMap. moco runs the new my.cnf through ``mysqld --validate-config`` in a Job and:

* says so where a user looks: ``ReconcileSuccess=False`` with reason ``MySQLConfigInvalid`` and
  mysqld's own words naming the option, and a Warning Event of that reason;
* leaves the StatefulSet on the last good my.cnf: no Pod is deleted or restarted, and every
  write keeps being acknowledged (no error at all while the bad config is refused).

The user then replaces the option with a good change (``max_connections``): the rollout runs
(replicas first, the primary switched over last), every instance serves the new value, the
cluster is Healthy and every acknowledged write is on every instance.

Recorded: ``bad_mycnf_refused_s`` (ConfigMap edit to the condition), ``bad_mycnf_rollout_s``
(the fix to Healthy on the new config), ``bad_mycnf_rollout_unavailable_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl
from e2e.mysql_access import READONLY, access
from e2e.writes import SETTLE_ACKS, WARMUP_ACKS, _verify_everywhere, _wait_acks, start_checker
from moco.mysql.conn import connect

#: cluster creation (up to 10 minutes on a loaded machine) + the validation Job + a rollout.
pytestmark = pytest.mark.timeout(1800)

NAME = "badcnf"
CONFIGMAP = "badcnf-conf"
SELECTOR = f"app.kubernetes.io/name=mysql,app.kubernetes.io/instance={NAME}"
REASON = "MySQLConfigInvalid"
#: writes acknowledged while the refused config is pending (none may fail)
REFUSED_ACKS = 30
ROLLOUT_TIMEOUT_S = 900.0


def _configmap(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIGMAP}, "data": data}


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "bad-mycnf") as k:
        mc.apply(k, _configmap({"max_connections": "200"}))
        manifest = mc.minimal(NAME, str(k.namespace), replicas=3)
        manifest["spec"]["mysqlConfigMapName"] = CONFIGMAP
        mc.apply(k, manifest)
        mc.wait_healthy(k, NAME)
        yield k


def _pods(k: Kubectl) -> dict[str, tuple[str, int]]:
    """Pod name -> (uid, mysqld restarts) of the cluster's live Pods."""
    out = {}
    for p in k.get("pods", "-l", SELECTOR)["items"]:
        if p["metadata"].get("deletionTimestamp"):
            continue
        restarts = sum(
            int(cs.get("restartCount", 0))
            for cs in (p.get("status") or {}).get("containerStatuses") or []
            if cs.get("name") == "mysqld"
        )
        out[p["metadata"]["name"]] = (p["metadata"]["uid"], restarts)
    return out


def _conf_name(k: Kubectl) -> str:
    sts = k.get("statefulset", f"moco-{NAME}")
    vols = sts["spec"]["template"]["spec"]["volumes"]
    return str(next(v for v in vols if v["name"] == "mysql-conf")["configMap"]["name"])


def _refused(k: Kubectl) -> dict[str, Any] | None:
    for c in mc.status(k, NAME).get("conditions") or []:
        if c["type"] == "ReconcileSuccess" and c["status"] == "False" and c.get("reason") == REASON:
            return dict(c)
    return None


def _warnings(k: Kubectl) -> list[str]:
    items = k.get("events", "--field-selector", f"reason={REASON}")["items"]
    return [str(e.get("message", "")) for e in items if e.get("type") == "Warning"]


def _rolled_out(k: Kubectl, before: str) -> bool:
    sts = k.get("statefulset", f"moco-{NAME}")
    st = sts.get("status") or {}
    return (
        _conf_name(k) != before
        and st.get("updatedReplicas") == 3
        and st.get("currentRevision") == st.get("updateRevision")
        and mc.is_healthy(k, NAME)
    )


async def test_refused_mycnf_stops_the_rollout_and_the_fix_rolls(
    k: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    pods_before = await asyncio.to_thread(_pods, k)
    conf_before = await asyncio.to_thread(_conf_name, k)
    assert len(pods_before) == 3
    with access(k, NAME) as acc:
        chk = await start_checker(acc)
        try:
            await _wait_acks(k, NAME, chk, WARMUP_ACKS, 0.0, "writes before the edit")
            t0 = time.monotonic()
            bad = _configmap({"max_connections": "200", "query_cache_size": "0"})
            await asyncio.to_thread(mc.apply, k, bad)
            cond = await asyncio.to_thread(
                mc.wait, k, NAME, f"ReconcileSuccess=False ({REASON})", lambda: _refused(k), 300
            )
            refused_s = time.monotonic() - t0
            assert "query_cache_size" in cond["message"], cond
            warned = await asyncio.to_thread(
                mc.wait, k, NAME, f"a Warning Event {REASON}", lambda: _warnings(k), 60
            )
            assert any("query_cache_size" in m for m in warned), warned
            # the refusal holds while writes go on: nothing rolled, nothing restarted, no error
            await _wait_acks(k, NAME, chk, REFUSED_ACKS, time.monotonic(), "writes while refused")
            assert await asyncio.to_thread(_conf_name, k) == conf_before, "the refused my.cnf was rolled out"
            assert await asyncio.to_thread(_pods, k) == pods_before, "a Pod was replaced or restarted"
            assert chk.errors == 0, f"{chk.errors} writes failed while the bad my.cnf was refused"

            t1 = time.monotonic()
            await asyncio.to_thread(mc.apply, k, _configmap({"max_connections": "300"}))
            await asyncio.to_thread(
                mc.wait,
                k,
                NAME,
                "the corrected my.cnf rolled out, Healthy",
                lambda: _rolled_out(k, conf_before),
                ROLLOUT_TIMEOUT_S,
                3.0,
            )
            rollout_s = time.monotonic() - t1
            await _wait_acks(k, NAME, chk, SETTLE_ACKS, time.monotonic(), "writes after the rollout")
        finally:
            await chk.stop()
        reports = await _verify_everywhere(k, NAME, acc, chk)
        # every instance where Pod IPs are reachable (the local provider), else the primary
        servers = await asyncio.to_thread(acc.instances, READONLY) or [acc.primary(READONLY)]
        for ep in servers:
            async with await connect(ep, timeout=10) as c:
                row = await c.query_one("SELECT @@GLOBAL.max_connections AS v")
            assert row is not None
            assert int(row["v"]) == 300, f"{ep.address} runs max_connections={row['v']}"
    lost = [(where, rep.describe()) for where, rep in reports if not rep.ok]
    assert not lost, f"acknowledged writes lost or split brain: {lost}\n{mc.diagnostics(k, NAME)}"
    assert not await asyncio.to_thread(_refused, k), "the refusal outlived its fix"
    gaps = chk.gaps()
    record_testsuite_property("bad_mycnf_refused_s", round(refused_s, 1))
    record_testsuite_property("bad_mycnf_rollout_s", round(rollout_s, 1))
    record_testsuite_property(
        "bad_mycnf_rollout_unavailable_s", round(max((g.seconds for g in gaps), default=0.0), 3)
    )
