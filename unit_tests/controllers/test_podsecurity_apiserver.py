"""Every Pod moco makes is admitted by a real kube-apiserver's PodSecurity admission at the
``restricted`` level (dry-run creations in a namespace labelled ``enforce=restricted``).

A control Pod (moco's mysqld Pod with the security contexts the templates had before: uid/gid
only) is refused in the same namespace, so the admission is known to be on.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from moco.api import BackupPolicy, MySQLCluster, with_defaults
from moco.api.defaults import backuppolicy_schema_defaulted
from moco.controllers import backup, backuparchive, statefulset, validation
from moco.controllers.containers import mysqld_container
from moco.controllers.podsecurity import SecurityDefaults
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import NAMESPACES, PODS
from unit_tests.controllers.render_helpers import IMAGES, UID, example_names, load_example

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(180)]

TESTDATA = Path(__file__).parents[2] / "e2e" / "testdata" / "moco"
BACKUP_IMAGE = "localhost/moco/moco-backup:test"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def _docs(name: str, **subst: str) -> list[dict[str, Any]]:
    text = (TESTDATA / name).read_text()
    for k, v in subst.items():
        text = text.replace("{{ " + k + " }}", v)
    return [d for d in yaml.safe_load_all(text) if d]


def _kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    doc = copy.deepcopy(next(d for d in docs if d["kind"] == kind))
    doc["metadata"]["uid"] = UID
    return doc


def _cluster(doc: dict[str, Any]) -> MySQLCluster:
    return with_defaults(MySQLCluster.parse(doc), random.Random(7))


def _pod(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["serviceAccountName"] = "default"  # admission looks the account up; the namespace has this one
    mounts = {
        m["name"]
        for c in spec["containers"] + spec.get("initContainers", [])
        for m in c.get("volumeMounts", [])
    }
    have = {v["name"] for v in spec.get("volumes", [])}
    for missing in sorted(mounts - have):  # the StatefulSet's claim templates
        spec.setdefault("volumes", []).append(
            {"name": missing, "persistentVolumeClaim": {"claimName": missing}}
        )
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _mysqld_pod_specs(security: SecurityDefaults) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name in example_names():
        cluster, _ = load_example(name)
        out.append(
            (name, statefulset.pod_template(cluster, "moco-x.1", "moco-slow-x", IMAGES, security)["spec"])
        )
    return out


def _job_pod_specs() -> list[tuple[str, dict[str, Any]]]:
    docs = _docs("backup_with_env.yaml", **{".": "9.7.4"})
    cluster = _cluster(_kind(docs, "MySQLCluster"))
    policy = backuppolicy_schema_defaulted(BackupPolicy.parse(_kind(docs, "BackupPolicy")))
    cron = backup.backup_cronjob(cluster, policy, BACKUP_IMAGE)
    restore_docs = _docs(
        "restore_tls.yaml", **{".RestorePoint": "2026-12-01T10:20:30+09:00", ".MySQLVersion": "9.7.4"}
    )
    restore = backup.restore_job(_cluster(_kind(restore_docs, "MySQLCluster")), BACKUP_IMAGE)
    archiver = backuparchive.archiver_deployment(cluster, policy, BACKUP_IMAGE)
    check = validation.validation_job(cluster, "[mysqld]\n", "moco-x.1", mysqld_container(cluster))
    return [
        ("backup", cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        ("restore", restore["spec"]["template"]["spec"]),
        ("archiver", archiver["spec"]["template"]["spec"]),
        ("validation", check["spec"]["template"]["spec"]),
    ]


@pytest.fixture
async def restricted(kube: Client, namespace: str) -> str:
    await kube.patch(NAMESPACES, namespace, {"metadata": {"labels": RESTRICTED}})
    return namespace


async def _admit(kube: Client, pod: dict[str, Any]) -> None:
    await kube.create(PODS, pod, query={"dryRun": "All"})


async def test_the_control_pod_is_refused(kube: Client, restricted: str) -> None:
    _, spec = _mysqld_pod_specs(SecurityDefaults())[0]
    spec = copy.deepcopy(spec)
    spec["securityContext"] = {"fsGroup": 10000}
    for c in spec["containers"] + spec["initContainers"]:
        c["securityContext"] = {"runAsUser": 10000, "runAsGroup": 10000}
    with pytest.raises(errors.KubeError, match="restricted"):
        await _admit(kube, _pod(restricted, "control", spec))


@pytest.mark.parametrize("default_ids", [True, False], ids=["default", "disable-default-security-context"])
async def test_every_mysqld_pod_is_admitted(kube: Client, restricted: str, default_ids: bool) -> None:
    for i, (name, spec) in enumerate(_mysqld_pod_specs(SecurityDefaults(default_ids=default_ids))):
        try:
            await _admit(kube, _pod(restricted, f"mysqld-{i}", spec))
        except errors.KubeError as e:
            raise AssertionError(f"{name}: {e}") from e


async def test_every_job_pod_is_admitted(kube: Client, restricted: str) -> None:
    for name, spec in _job_pod_specs():
        try:
            await _admit(kube, _pod(restricted, name, spec))
        except errors.KubeError as e:
            raise AssertionError(f"{name}: {e}") from e
