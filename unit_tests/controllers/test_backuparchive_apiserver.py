"""The binlog archiver's Deployment against a real kube-apiserver (and kube-controller-manager).

The controller runs in-process with the rights of ``manifests/rbac/namespaced`` only, so the
apiserver also checks that moco may manage Deployments. Each test is named after a rule of
:mod:`moco.controllers.backuparchive`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from moco.controllers.backuparchive import ANN_BINLOG_ARCHIVE, ARCHIVER_REQUESTS
from moco.controllers.backupjobs import BACKUPPOLICIES
from moco.controllers.containers import BACKUP_IMAGE
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.resource import CRONJOBS, DEPLOYMENTS
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import cluster_manifest, eventually, get_or_none
from unit_tests.controllers.test_backup_apiserver import _owned_by_moco, policy, scoped_controller, short_ns

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]
__all__ = ["short_ns"]  # the namespace fixture, shared with the CronJob tests

NAME = "moco-binlog-archive-test"


def annotated(ns: str, value: str = "true", **spec: Any) -> dict[str, Any]:
    body = policy(ns, **spec)
    body["metadata"]["annotations"] = {ANN_BINLOG_ARCHIVE: value}
    return body


async def _replace_policy(kube: Client, ns: str, body: dict[str, Any]) -> None:
    live = await kube.get(BACKUPPOLICIES, "daily", ns)
    body = copy.deepcopy(body)
    body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    await kube.replace(BACKUPPOLICIES, body)


async def _gone(kube: Client, ns: str, name: str = NAME) -> bool:
    return await get_or_none(kube, DEPLOYMENTS, name, ns) is None


async def test_rule1_2_opt_in_by_annotation_and_exists_exactly_while_wanted(
    apiserver: Envtest, kube: Client, short_ns: str
) -> None:
    ns = short_ns
    async with scoped_controller(apiserver, kube, ns):
        # a MOCO policy (no annotation): the CronJob, no archiver
        await kube.create(BACKUPPOLICIES, policy(ns))
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=1, backupPolicyName="daily"))
        await eventually(lambda: get_or_none(kube, CRONJOBS, "moco-backup-test", ns), "CronJob")
        assert await _gone(kube, ns)

        # a value other than "true" is off
        await _replace_policy(kube, ns, annotated(ns, "yes"))
        await eventually(
            lambda: _annotation_seen(kube, ns, "yes"), "the policy change reached the CronJob's reconcile"
        )
        assert await _gone(kube, ns)

        # the annotation turns it on (the BackupPolicy watch brings the cluster back)
        await _replace_policy(kube, ns, annotated(ns))
        dep = await eventually(lambda: get_or_none(kube, DEPLOYMENTS, NAME, ns), "archiver Deployment")
        cluster = await kube.get(MYSQLCLUSTERS, "test", ns)
        _owned_by_moco(dep, cluster["metadata"]["uid"])

        # the annotation removed: deleted; back: re-created
        await _replace_policy(kube, ns, policy(ns))
        await eventually(lambda: _gone(kube, ns), "archiver deleted when the policy opts out")
        await _replace_policy(kube, ns, annotated(ns))
        await eventually(lambda: get_or_none(kube, DEPLOYMENTS, NAME, ns), "archiver re-created")

        # the policy name removed: deleted with the CronJob
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"backupPolicyName": None}}, ns)
        await eventually(lambda: _gone(kube, ns), "archiver deleted with the policy name")
        assert await get_or_none(kube, CRONJOBS, "moco-backup-test", ns) is None


async def _annotation_seen(kube: Client, ns: str, value: str) -> bool:
    live = await kube.get(BACKUPPOLICIES, "daily", ns)
    return bool((live["metadata"].get("annotations") or {}).get(ANN_BINLOG_ARCHIVE) == value)


async def test_rule2_deleted_with_the_cluster(
    apiserver: Envtest, controller_manager: Envtest, kube: Client, short_ns: str
) -> None:
    ns = short_ns
    async with scoped_controller(apiserver, kube, ns):
        await kube.create(BACKUPPOLICIES, annotated(ns))
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=1, backupPolicyName="daily"))
        await eventually(lambda: get_or_none(kube, DEPLOYMENTS, NAME, ns), "archiver Deployment")
        await kube.delete(MYSQLCLUSTERS, "test", ns)
        await eventually(lambda: _gone(kube, ns), "archiver garbage-collected with the cluster", within=90)


async def test_rule3_4_5_one_follower_with_the_policys_job_config(
    apiserver: Envtest, kube: Client, short_ns: str
) -> None:
    ns = short_ns
    async with scoped_controller(apiserver, kube, ns):
        await kube.create(BACKUPPOLICIES, annotated(ns))
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3, backupPolicyName="daily"))
        dep = await eventually(lambda: get_or_none(kube, DEPLOYMENTS, NAME, ns), "archiver Deployment")
        spec = dep["spec"]
        assert (spec["replicas"], spec["strategy"]["type"]) == (1, "Recreate")
        pod = spec["template"]["spec"]
        jc = policy(ns)["spec"]["jobConfig"]
        assert pod["serviceAccountName"] == "backup-owner"
        assert pod["affinity"] == jc["affinity"]
        assert pod["volumes"] == [
            {"name": "work", "emptyDir": {}},
            {"name": "ca", "secret": {"secretName": "bucket-ca", "defaultMode": 420}},
        ]
        (ctr,) = pod["containers"]
        assert ctr["image"] == BACKUP_IMAGE
        assert ctr["args"] == [
            "archive",
            "--interval=5",
            "--region=us-east-1",
            "--endpoint=https://s3.example:9000",
            "--use-path-style=true",
            "--backend-type=s3",
            "--ca-cert-file-path=/ca/ca.crt",
            "moco",
            ns,
            "test",
        ]
        assert ctr["env"] == [
            {
                "name": "MYSQL_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "moco-test", "key": "BACKUP_PASSWORD"}},
            },
            {"name": "AWS_REGION", "value": "us-east-1"},
        ]
        assert ctr["envFrom"] == [{"secretRef": {"name": "bucket-creds"}}]
        assert ctr["volumeMounts"] == [
            {"name": "work", "mountPath": "/work"},
            {"name": "ca", "mountPath": "/ca"},
        ]
        assert ctr["resources"] == {"requests": ARCHIVER_REQUESTS, "limits": {"cpu": "4", "memory": "6Gi"}}

        # a policy change re-renders it (ServiceAccount, bucket)
        changed = annotated(ns)
        changed["spec"]["jobConfig"]["serviceAccountName"] = "other-owner"
        changed["spec"]["jobConfig"]["bucketConfig"] = {"bucketName": "other", "backendType": "gcs"}
        await _replace_policy(kube, ns, changed)

        async def rerendered() -> dict[str, Any] | None:
            d = await kube.get(DEPLOYMENTS, NAME, ns)
            p = d["spec"]["template"]["spec"]
            return d if p["serviceAccountName"] == "other-owner" else None

        dep = await eventually(rerendered, "archiver re-rendered")
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args == ["archive", "--interval=5", "--backend-type=gcs", "other", ns, "test"]
