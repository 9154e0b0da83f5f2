"""The my.cnf validation gate against a real kube-apiserver (no Job controller: the test plays it).

A MySQLCluster whose ConfigMap holds an option MySQL 9 removed and one it never knew: the
controller creates the validation Job (the translated option reported in an Event), and no
StatefulSet; the Job fails with mysqld's error in its Pod's termination message: the cluster
says which option in ReconcileSuccess=False and a Warning Event, still no StatefulSet; the user
removes the option: a new Job, which succeeds, then the StatefulSet names the validated my.cnf
and the old Job is deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from moco.controllers import validation
from moco.controllers.containers import Images
from moco.controllers.reconciler import MYSQLCLUSTERS, ReconcilerConfig
from moco.controllers.setup import setup
from moco.kube.client import Client
from moco.kube.manager import Manager, ManagerOptions
from moco.kube.resource import CONFIGMAPS, EVENTS, JOBS, PODS, STATEFULSETS
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import cluster_manifest, condition, eventually, get_or_none

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(180)]

NOW = "2026-01-01T00:00:00Z"
MYSQLD_ERROR = (
    "2026-01-01T00:00:00.000000Z 0 [ERROR] [MY-000067] [Server] unknown variable 'query_cache_size=0'.\n"
    "2026-01-01T00:00:00.000001Z 0 [ERROR] [MY-010119] [Server] Aborting\n"
)


@asynccontextmanager
async def controller(apiserver: Envtest, ns: str) -> AsyncIterator[None]:
    client = await Client.from_kubeconfig(apiserver.kubeconfig, qps=200, burst=400)
    mgr = Manager(client, ManagerOptions(namespace=ns, http_address=None, handle_signals=False))
    cfg = ReconcilerConfig(system_namespace=ns, images=Images(agent="moco:test"), validate_config=True)
    setup(mgr, client, cfg, enable_clustering=False, workers=2)
    task = asyncio.create_task(mgr.run())
    try:
        yield
    finally:
        mgr.stop()
        async with asyncio.timeout(30):
            await task
        await client.close()


async def jobs(kube: Client, ns: str) -> list[dict[str, Any]]:
    items, _ = await kube.list_all(JOBS, ns, label_selector=f"app.kubernetes.io/name={validation.APP_NAME}")
    return items


async def finish(kube: Client, job: dict[str, Any], *, ok: bool, message: str = "") -> None:
    """What the Job controller and kubelet would write: the Pod's end, then the Job's."""
    name, ns = job["metadata"]["name"], job["metadata"]["namespace"]
    pod = await kube.create(
        PODS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-x",
                "namespace": ns,
                "labels": {"batch.kubernetes.io/job-name": name, "job-name": name},
            },
            "spec": job["spec"]["template"]["spec"],
        },
    )
    term = {"exitCode": 0 if ok else 1, "reason": "Completed" if ok else "Error", "message": message}
    pod["status"] = {
        "phase": "Succeeded" if ok else "Failed",
        "containerStatuses": [
            {
                "name": validation.CONTAINER,
                "image": job["spec"]["template"]["spec"]["containers"][0]["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": {**term, "startedAt": NOW, "finishedAt": NOW}},
            }
        ],
    }
    await kube.update_status(PODS, pod)
    cur = await kube.get(JOBS, name, ns)
    if ok:
        conds = [("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]
        cur["status"] = {"startTime": NOW, "completionTime": NOW, "succeeded": 1}
    else:
        conds = [("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
        cur["status"] = {"startTime": NOW, "failed": 1}
    cur["status"]["conditions"] = [
        {
            "type": t,
            "status": "True",
            "reason": r,
            "message": "",
            "lastProbeTime": NOW,
            "lastTransitionTime": NOW,
        }
        for t, r in conds
    ]
    await kube.update_status(JOBS, cur)


async def events(kube: Client, ns: str, reason: str) -> list[str]:
    items, _ = await kube.list_all(EVENTS, ns)
    return [str(e.get("message", "")) for e in items if e.get("reason") == reason]


async def test_refused_config_never_reaches_the_statefulset(
    apiserver: Envtest, kube: Client, namespace: str
) -> None:
    ns = namespace
    await kube.create(
        CONFIGMAPS,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "mycnf", "namespace": ns},
            "data": {"innodb_log_file_size": "10M", "query_cache_size": "0"},
        },
    )
    async with controller(apiserver, ns):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, mysqlConfigMapName="mycnf"))
        first = (await eventually(lambda: jobs(kube, ns), "the validation Job"))[0]
        c = first["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == "mysql:test"
        assert "--validate-config" in c["command"]
        assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
        cm_name = first["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
        conf = (await kube.get(CONFIGMAPS, cm_name, ns))["data"]["my.cnf"]
        assert "innodb_redo_log_capacity = 20971520" in conf
        assert "innodb_log_file_size" not in conf
        translated = await eventually(lambda: events(kube, ns, validation.EV_TRANSLATED), "translation Event")
        assert "innodb_log_file_size=10M" in translated[0]
        assert "innodb_redo_log_capacity=20971520" in translated[0]
        await asyncio.sleep(1.0)
        assert await get_or_none(kube, STATEFULSETS, "moco-test", ns) is None, "applied before validation"

        await finish(kube, first, ok=False, message=MYSQLD_ERROR)

        async def refused() -> dict[str, Any] | None:
            cond = condition(await kube.get(MYSQLCLUSTERS, "test", ns), "ReconcileSuccess")
            return cond if cond and cond["status"] == "False" else None

        cond = await eventually(refused, "ReconcileSuccess=False")
        assert cond["reason"] == validation.ConfigRefused.reason
        assert "unknown variable 'query_cache_size=0'" in cond["message"]
        warned = await eventually(lambda: events(kube, ns, validation.ConfigRefused.reason), "Warning Event")
        assert "query_cache_size" in warned[0]
        assert await get_or_none(kube, STATEFULSETS, "moco-test", ns) is None, "a refused my.cnf was applied"

        cm = await kube.get(CONFIGMAPS, "mycnf", ns)
        cm["data"] = {"innodb_log_file_size": "10M"}
        await kube.replace(CONFIGMAPS, cm)

        async def second_job() -> dict[str, Any] | None:
            return next(
                (j for j in await jobs(kube, ns) if j["metadata"]["name"] != first["metadata"]["name"]), None
            )

        second = await eventually(second_job, "a Job for the corrected my.cnf", within=60)
        good_cm = second["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
        assert good_cm != cm_name
        await finish(kube, second, ok=True)
        sts = await eventually(
            lambda: get_or_none(kube, STATEFULSETS, "moco-test", ns), "the StatefulSet", within=60
        )
        vols = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
        assert vols["mysql-conf"]["configMap"]["name"] == good_cm

        async def old_job_gone() -> bool:
            return first["metadata"]["name"] not in {j["metadata"]["name"] for j in await jobs(kube, ns)}

        await eventually(old_job_gone, "the refused config's Job deleted")


async def test_a_config_the_statefulset_already_runs_is_not_validated_again(
    apiserver: Envtest, kube: Client, namespace: str
) -> None:
    """Finished validation Jobs are removed after a day (their TTL): a controller restarted
    after that must not run a Job per cluster for the config every StatefulSet already runs
    (1,000 Jobs of ``mysqld --validate-config`` at once)."""
    ns = namespace
    async with controller(apiserver, ns):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns))
        job = (await eventually(lambda: jobs(kube, ns), "the validation Job"))[0]
        await finish(kube, job, ok=True)
        sts = await eventually(
            lambda: get_or_none(kube, STATEFULSETS, "moco-test", ns), "the StatefulSet", within=60
        )
    await kube.delete(JOBS, job["metadata"]["name"], ns, propagation="Background")
    await eventually(lambda: _none_left(kube, ns), "the Job removed (its TTL)")
    async with controller(apiserver, ns):
        cluster = await kube.get(MYSQLCLUSTERS, "test", ns)
        cluster["spec"]["maxDelaySeconds"] = 120  # a change of the template, not of my.cnf
        generation = (await kube.replace(MYSQLCLUSTERS, cluster))["metadata"]["generation"]

        async def reconciled() -> bool:
            st = (await kube.get(MYSQLCLUSTERS, "test", ns)).get("status") or {}
            return bool((st.get("reconcileInfo") or {}).get("generation") == generation)

        await eventually(reconciled, "the restarted controller's reconcile", within=60)
        assert await jobs(kube, ns) == [], "a config the StatefulSet runs was validated again"
        # the StatefulSet was applied (the agent's --max-delay follows maxDelaySeconds) with no Job
        template = (await kube.get(STATEFULSETS, "moco-test", ns))["spec"]["template"]
        agent = next(c for c in template["spec"]["containers"] if c["name"] == "agent")
        assert "--max-delay=120s" in agent["args"]
        assert template["spec"]["volumes"] == sts["spec"]["template"]["spec"]["volumes"]


async def _none_left(kube: Client, ns: str) -> bool:
    return not await jobs(kube, ns)
