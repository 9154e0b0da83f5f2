"""``--disable-default-security-context`` reaches every Pod moco makes, not only the mysqld Pods:
the backup CronJob's, the restore Job's and the binlog archiver's Pods are rendered by the
reconciler's backup step from the same :class:`~moco.controllers.reconciler.ReconcilerConfig`.

With the flag no uid, gid or fsGroup is filled anywhere (the platform assigns them) and every
field of the restricted level still is; without it, MOCO's 10000 everywhere."""

from __future__ import annotations

from typing import Any, cast

import pytest

from moco import constants
from moco.api import MySQLCluster
from moco.controllers.backuparchive import ANN_BINLOG_ARCHIVE
from moco.controllers.backupjobs import BACKUPPOLICIES
from moco.controllers.containers import Images
from moco.controllers.podsecurity import RESTRICTED_CONTAINER, RESTRICTED_POD, SecurityDefaults
from moco.controllers.reconciler import MySQLClusterReconciler, ReconcilerConfig
from moco.controllers.statefulset import pod_template
from moco.kube.client import Client
from moco.kube.events import EventRecorder
from moco.kube.resource import Resource
from moco.kube.store import Store
from unit_tests.controllers.render_helpers import UID

IDS = ("runAsUser", "runAsGroup", "fsGroup")

POLICY = {
    "apiVersion": "moco.cybozu.com/v1beta2",
    "kind": "BackupPolicy",
    "metadata": {"name": "p", "namespace": "ns", "annotations": {ANN_BINLOG_ARCHIVE: "true"}},
    "spec": {
        "schedule": "*/5 * * * *",
        "jobConfig": {
            "serviceAccountName": "sa",
            "bucketConfig": {"bucketName": "b"},
            "workVolume": {"emptyDir": {}},
        },
    },
}


def _cluster() -> MySQLCluster:
    job_config = POLICY["spec"]["jobConfig"]  # type: ignore[index]
    return MySQLCluster.parse(
        {
            "kind": "MySQLCluster",
            "metadata": {"name": "c", "namespace": "ns", "uid": UID},
            "spec": {
                "replicas": 3,
                "serverIDBase": 1000,
                "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": "mysql:9.7"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "mysql-data"}, "spec": {}}],
                "backupPolicyName": "p",
                "restore": {
                    "sourceName": "src",
                    "sourceNamespace": "ns",
                    "restorePoint": "2026-01-02T15:04:05Z",
                    "jobConfig": job_config,
                },
            },
        }
    )


async def _pod_specs(security: SecurityDefaults) -> dict[str, dict[str, Any]]:
    """kind/name -> Pod spec of every workload the reconciler's backup step applies."""
    rec = MySQLClusterReconciler(
        cast(Client, None),
        Store(),
        ReconcilerConfig(system_namespace="moco-system", images=Images(agent="a:1"), security=security),
        recorder=cast(EventRecorder, None),
    )
    applied: dict[str, dict[str, Any]] = {}

    async def get(res: Resource, name: str, namespace: str | None) -> dict[str, Any] | None:
        return POLICY if res == BACKUPPOLICIES else None

    async def apply(res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        applied[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
        return obj

    async def delete(res: Resource, name: str, namespace: str | None) -> bool:
        return False

    rec.jobs.get, rec.jobs.apply, rec.jobs.delete = get, apply, delete
    await rec.jobs.reconcile(_cluster(), [])
    specs = {
        "CronJob/moco-backup-c": applied["CronJob/moco-backup-c"]["spec"]["jobTemplate"]["spec"]["template"][
            "spec"
        ],
        "Job/moco-restore-c": applied["Job/moco-restore-c"]["spec"]["template"]["spec"],
        "Deployment/moco-binlog-archive-c": applied["Deployment/moco-binlog-archive-c"]["spec"]["template"][
            "spec"
        ],
    }
    template = pod_template(_cluster(), "moco-c-mycnf", "moco-c-slow", Images(agent="a:1"), security=security)
    specs["StatefulSet/moco-c"] = template["spec"]
    return specs


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers") or []) + list(spec["containers"])


async def test_the_flag_leaves_every_pods_ids_to_the_platform() -> None:
    specs = await _pod_specs(SecurityDefaults(default_ids=False))
    for where, spec in specs.items():
        pod = spec["securityContext"]
        assert not set(IDS) & set(pod), f"{where}: {pod}"
        assert RESTRICTED_POD.items() <= pod.items(), where
        for c in _containers(spec):
            sc = c["securityContext"]
            assert not set(IDS) & set(sc), f"{where} {c['name']}: {sc}"
            assert RESTRICTED_CONTAINER.items() <= sc.items(), f"{where} {c['name']}"


@pytest.mark.parametrize("security", [SecurityDefaults(), SecurityDefaults(default_ids=True)])
async def test_without_the_flag_every_pod_runs_as_mocos_ids(security: SecurityDefaults) -> None:
    for where, spec in (await _pod_specs(security)).items():
        assert spec["securityContext"]["fsGroup"] == constants.CONTAINER_GID, where
        for c in _containers(spec):
            assert c["securityContext"]["runAsUser"] == constants.CONTAINER_UID, f"{where} {c['name']}"
