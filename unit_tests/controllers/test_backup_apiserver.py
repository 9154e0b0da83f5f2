"""The backup CronJob and the restore Job against a real kube-apiserver.

The controller runs in-process with nothing but the rights of ``manifests/rbac/namespaced``
(a client certificate of its ServiceAccount), so the apiserver also checks that moco may create
the Jobs' Roles (RBAC refuses a Role granting more than its creator holds). No Job controller
runs here: the restore Job's outcome is written into its status by the test, as the Job
controller would.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from moco import constants
from moco.controllers.backupjobs import BACKUPPOLICIES
from moco.controllers.containers import BACKUP_IMAGE
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.controllers.setup import Wiring
from moco.kube.client import Client
from moco.kube.resource import CRONJOBS, EVENTS, JOBS, NAMESPACES, ROLEBINDINGS, ROLES
from moco.testing.envtest import Envtest
from moco.testing.rbac import KINDS, controller_kubeconfig, rbac_docs
from unit_tests.controllers.harness import (
    cluster_manifest,
    condition,
    eventually,
    get_or_none,
    running_controller,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]


@pytest.fixture
async def short_ns(kube: Client) -> AsyncIterator[str]:
    """A namespace with a short name (it is part of the controller's certificate name)."""
    name = f"mocobk-{secrets.token_hex(3)}"
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    await kube.delete(NAMESPACES, name)


def policy(ns: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedule": "*/5 * * * *",
        "timeZone": "Asia/Tokyo",
        "startingDeadlineSeconds": 60,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 2,
        "failedJobsHistoryLimit": 5,
        "activeDeadlineSeconds": 3600,
        "backoffLimit": 1,
        "jobConfig": {
            "serviceAccountName": "backup-owner",
            "bucketConfig": {
                "bucketName": "moco",
                "region": "us-east-1",
                "endpointURL": "https://s3.example:9000",
                "usePathStyle": True,
                "backendType": "s3",
                "caCert": "/ca/ca.crt",
            },
            "workVolume": {"emptyDir": {}},
            "threads": 8,
            "cpu": "2",
            "memory": "3Gi",
            "maxCpu": "4",
            "maxMemory": "6Gi",
            "env": [{"name": "AWS_REGION", "value": "us-east-1"}],
            "envFrom": [{"secretRef": {"name": "bucket-creds"}}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}
                        ]
                    }
                }
            },
            "volumes": [{"name": "ca", "secret": {"secretName": "bucket-ca"}}],
            "volumeMounts": [{"name": "ca", "mountPath": "/ca"}],
        },
    }
    body.update(spec)
    return {
        "apiVersion": BACKUPPOLICIES.api_version,
        "kind": "BackupPolicy",
        "metadata": {"name": "daily", "namespace": ns},
        "spec": body,
    }


@asynccontextmanager
async def scoped_controller(apiserver: Envtest, kube: Client, ns: str) -> AsyncIterator[Wiring]:
    """moco's controllers in ``ns`` with only the namespaced RBAC of the manifests."""
    for doc in rbac_docs("namespaced", ns):
        await kube.create(KINDS[doc["kind"]], doc)
    async with running_controller(controller_kubeconfig(apiserver, ns), ns, watch_namespace=ns) as wiring:
        yield wiring


def _owned_by_moco(obj: dict[str, Any], uid: str) -> None:
    ref = obj["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("MySQLCluster", uid, True)
    managers = {m["manager"] for m in obj["metadata"]["managedFields"] if m["operation"] == "Apply"}
    assert managers == {constants.FIELD_MANAGER}


async def _failed(kube: Client, ns: str, what: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        c = condition(await kube.get(MYSQLCLUSTERS, "test", ns), "ReconcileSuccess")
        return c if c and c["status"] == "False" else None

    return await eventually(probe, what)


async def test_backup_policy_renders_cronjob_and_rbac(
    apiserver: Envtest, kube: Client, short_ns: str
) -> None:
    ns = short_ns
    async with scoped_controller(apiserver, kube, ns):
        # a missing policy: said in the status and an Event, nothing created, no crash
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=1, backupPolicyName="daily"))
        c = await _failed(kube, ns, "missing policy reported")
        assert c["reason"] == "BackupPolicyNotFound"
        assert f"{ns}/daily" in c["message"]
        events, _ = await kube.list_all(EVENTS, ns)
        assert any(e["reason"] == "BackupPolicyNotFound" and e["type"] == "Warning" for e in events)
        assert await get_or_none(kube, CRONJOBS, "moco-backup-test", ns) is None

        # the policy appears: the BackupPolicy watch brings the cluster back
        await kube.create(BACKUPPOLICIES, policy(ns))
        cron = await eventually(lambda: get_or_none(kube, CRONJOBS, "moco-backup-test", ns), "CronJob")
        cluster = await kube.get(MYSQLCLUSTERS, "test", ns)
        uid = cluster["metadata"]["uid"]
        _owned_by_moco(cron, uid)
        spec = cron["spec"]
        assert (spec["schedule"], spec["timeZone"], spec["startingDeadlineSeconds"]) == (
            "*/5 * * * *",
            "Asia/Tokyo",
            60,
        )
        assert (
            spec["concurrencyPolicy"],
            spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"],
        ) == (
            "Forbid",
            2,
            5,
        )
        job = spec["jobTemplate"]["spec"]
        assert (job["activeDeadlineSeconds"], job["backoffLimit"]) == (3600, 1)
        pod = job["template"]["spec"]
        assert pod["serviceAccountName"] == "backup-owner"
        assert pod["affinity"] == policy(ns)["spec"]["jobConfig"]["affinity"]
        assert [v["name"] for v in pod["volumes"]] == ["work", "ca"]
        ctr = pod["containers"][0]
        assert ctr["image"] == BACKUP_IMAGE  # the default: the release's, not beside the agent's
        assert ctr["args"] == [
            "backup",
            "--threads=8",
            "--region=us-east-1",
            "--endpoint=https://s3.example:9000",
            "--use-path-style=true",
            "--backend-type=s3",
            "--ca-cert-file-path=/ca/ca.crt",
            "moco",
            ns,
            "test",
        ]
        assert ctr["env"][0] == {
            "name": "MYSQL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "moco-test", "key": "BACKUP_PASSWORD"}},
        }
        assert ctr["envFrom"] == [{"secretRef": {"name": "bucket-creds"}}]
        assert ctr["volumeMounts"] == [
            {"name": "work", "mountPath": "/work"},
            {"name": "ca", "mountPath": "/ca"},
        ]
        assert ctr["resources"] == {
            "requests": {"cpu": "2", "memory": "3Gi"},
            "limits": {"cpu": "4", "memory": "6Gi"},
        }
        role = await eventually(lambda: get_or_none(kube, ROLES, "moco-backup-test", ns), "Role")
        binding = await eventually(
            lambda: get_or_none(kube, ROLEBINDINGS, "moco-backup-test", ns), "RoleBinding"
        )
        _owned_by_moco(role, uid)
        _owned_by_moco(binding, uid)
        assert role["rules"][0]["resourceNames"] == ["test"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "backup-owner", "namespace": ns}]

        # a second cluster naming the same policy (and one naming none)
        await kube.create(
            MYSQLCLUSTERS, cluster_manifest(ns, name="second", replicas=1, backupPolicyName="daily")
        )
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, name="third", replicas=1))
        await eventually(lambda: get_or_none(kube, CRONJOBS, "moco-backup-second", ns), "second CronJob")

        # a policy change re-renders every CronJob naming it; fields the policy dropped are dropped
        changed = policy(ns, schedule="@hourly")
        for k in ("timeZone", "startingDeadlineSeconds", "activeDeadlineSeconds"):
            del changed["spec"][k]
        changed["spec"]["jobConfig"]["serviceAccountName"] = "other-owner"
        del changed["spec"]["jobConfig"]["affinity"]
        live = await kube.get(BACKUPPOLICIES, "daily", ns)
        changed["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        await kube.replace(BACKUPPOLICIES, changed)

        async def rerendered(name: str = "test") -> dict[str, Any] | None:
            cj = await kube.get(CRONJOBS, f"moco-backup-{name}", ns)
            return cj if cj["spec"]["schedule"] == "@hourly" else None

        cron = await eventually(rerendered, "CronJob re-rendered")
        await eventually(lambda: rerendered("second"), "the second cluster's CronJob re-rendered")
        assert await get_or_none(kube, CRONJOBS, "moco-backup-third", ns) is None
        assert "timeZone" not in cron["spec"]
        assert "startingDeadlineSeconds" not in cron["spec"]
        assert "activeDeadlineSeconds" not in cron["spec"]["jobTemplate"]["spec"]
        pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert "podAntiAffinity" in pod["affinity"]  # MOCO's default when none is given
        assert pod["serviceAccountName"] == "other-owner"

        async def rebound() -> bool:
            rb = await kube.get(ROLEBINDINGS, "moco-backup-test", ns)
            return bool(rb["subjects"][0]["name"] == "other-owner")

        await eventually(rebound, "RoleBinding follows the ServiceAccount")

        # the name removed: the three are deleted
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"backupPolicyName": None}}, ns)

        async def gone() -> bool:
            for res in (CRONJOBS, ROLES, ROLEBINDINGS):
                if await get_or_none(kube, res, "moco-backup-test", ns) is not None:
                    return False
            return True

        await eventually(gone, "CronJob, Role and RoleBinding deleted")
        ok = condition(await kube.get(MYSQLCLUSTERS, "test", ns), "ReconcileSuccess")
        assert ok is not None
        assert ok["status"] == "True"


def restore_spec(ns: str) -> dict[str, Any]:
    return {
        "sourceName": "source",
        "sourceNamespace": "elsewhere",
        "restorePoint": "2026-12-01T10:20:30+09:00",
        "schema": "app",
        "users": "u1",
        "jobConfig": {
            "serviceAccountName": "restorer",
            "bucketConfig": {"bucketName": "moco", "backendType": "gcs", "endpointURL": "http://gcs:4443"},
            "workVolume": {"emptyDir": {}},
            "threads": 2,
        },
    }


async def _restored_condition(kube: Client, ns: str, reason: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        c = condition(await kube.get(MYSQLCLUSTERS, "test", ns), "Restored")
        return c if c and c["reason"] == reason else None

    return await eventually(probe, f"Restored condition {reason}")


async def _events(kube: Client, ns: str, reason: str) -> list[dict[str, Any]]:
    items, _ = await kube.list_all(EVENTS, ns)
    return [e for e in items if e["reason"] == reason and e["involvedObject"]["name"] == "test"]


async def _set_job_status(kube: Client, ns: str, job: dict[str, Any], conds: list[tuple[str, str]]) -> None:
    """Write what the Job controller would: a start time and the finished conditions."""
    now = "2026-12-01T01:30:00Z"
    body = copy.deepcopy(job)
    body["status"] = {
        "startTime": now,
        "conditions": [
            {"type": t, "status": "True", "reason": r, "message": f"{t}: {r}", "lastTransitionTime": now}
            for t, r in conds
        ],
    }
    if any(t == "Complete" for t, _ in conds):
        body["status"]["succeeded"] = 1
        body["status"]["completionTime"] = now
    else:
        body["status"]["failed"] = 1
    await kube.update_status(JOBS, body)


async def test_restore_job_lifecycle(apiserver: Envtest, kube: Client, short_ns: str) -> None:
    ns = short_ns
    async with scoped_controller(apiserver, kube, ns):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3, restore=restore_spec(ns)))
        job = await eventually(lambda: get_or_none(kube, JOBS, "moco-restore-test", ns), "restore Job")
        uid = (await kube.get(MYSQLCLUSTERS, "test", ns))["metadata"]["uid"]
        _owned_by_moco(job, uid)
        assert job["spec"]["backoffLimit"] == 0
        ctr = job["spec"]["template"]["spec"]["containers"][0]
        assert ctr["image"] == BACKUP_IMAGE
        assert ctr["args"] == [
            "restore",
            "--threads=2",
            "--endpoint=http://gcs:4443",
            "--backend-type=gcs",
            "moco",
            "elsewhere",
            "source",
            ns,
            "test",
            "20261201-012030",
            "app",
            "u1",
        ]
        assert ctr["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "moco-test", "key": "ADMIN_PASSWORD"}
        _owned_by_moco(
            await eventually(lambda: get_or_none(kube, ROLES, "moco-restore-test", ns), "Role"), uid
        )
        _owned_by_moco(
            await eventually(lambda: get_or_none(kube, ROLEBINDINGS, "moco-restore-test", ns), "RoleBinding"),
            uid,
        )
        await _restored_condition(kube, ns, "RestoreJobRunning")

        # the Job fails: it stays, the cluster says so, a Warning Event once
        await _set_job_status(
            kube, ns, job, [("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
        )
        c = await _restored_condition(kube, ns, "RestoreJobFailed")
        assert c["status"] == "False"
        assert "delete the Job" in c["message"]
        await eventually(lambda: _events(kube, ns, "RestoreFailed"), "RestoreFailed Event")
        await kube.patch(
            MYSQLCLUSTERS, "test", {"metadata": {"labels": {"poke": "1"}}}, ns
        )  # one more reconcile
        await asyncio.sleep(2)
        still = await kube.get(JOBS, "moco-restore-test", ns)
        assert still["metadata"]["uid"] == job["metadata"]["uid"]
        assert len(await _events(kube, ns, "RestoreFailed")) == 1

        # the user deletes the failed Job: it is created again
        await kube.delete(JOBS, "moco-restore-test", ns, propagation="Background")

        async def recreated() -> dict[str, Any] | None:
            j = await get_or_none(kube, JOBS, "moco-restore-test", ns)
            return j if j and j["metadata"]["uid"] != job["metadata"]["uid"] else None

        job2 = await eventually(recreated, "restore Job re-created")
        await _restored_condition(kube, ns, "RestoreJobRunning")

        # it succeeds and the program writes restoredTime (and its Restored Event): nothing re-created
        await _set_job_status(
            kube, ns, job2, [("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "Done")]
        )

        def mark(o: dict[str, Any]) -> bool:
            o.setdefault("status", {})["restoredTime"] = "2026-12-01T01:40:00Z"
            return True

        await kube.update_status_with_retry(MYSQLCLUSTERS, "test", ns, mark)
        c = await _restored_condition(kube, ns, "Restored")
        assert c["status"] == "True"
        await kube.delete(JOBS, "moco-restore-test", ns, propagation="Background")
        await kube.patch(MYSQLCLUSTERS, "test", {"metadata": {"labels": {"poke": "2"}}}, ns)

        async def settled() -> bool:
            obj = await kube.get(MYSQLCLUSTERS, "test", ns)
            return bool(
                (obj["metadata"].get("labels") or {}).get("poke") == "2" and condition(obj, "Restored")
            )

        await eventually(settled, "reconciled after the Job's deletion")
        await asyncio.sleep(2)
        await _restored_condition(kube, ns, "Restored")
        assert await get_or_none(kube, JOBS, "moco-restore-test", ns) is None
        assert await _events(kube, ns, "Restored") == []  # the program's, not the controller's
