"""Every number, list and string of moco's own API fields is bounded, in a real kube-apiserver.

One tenant must not be able to make the operator allocate without limit for every cluster it
manages: ``spec.replicas: 2147483647`` (odd, so it passed every other rule) had the operator
allocate per ordinal. Each case below is one field just past its bound, refused with the field
named; the same object at the bound is accepted (so the bounds are not stricter than said).
The bounds are in the field descriptions and the README's validation table.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from moco.constants import GROUP, VERSION
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import Resource

pytestmark = pytest.mark.apiserver

MYSQLCLUSTERS = Resource(GROUP, VERSION, "mysqlclusters", "MySQLCluster")
BACKUPPOLICIES = Resource(GROUP, VERSION, "backuppolicies", "BackupPolicy")
STRICT = {"fieldValidation": "Strict"}
INT32_MAX = 2**31 - 1


def _job_config(**extra: Any) -> dict[str, Any]:
    bucket = {"bucketName": "b", **extra.pop("bucketConfig", {})}
    return {
        "serviceAccountName": "sa",
        "bucketConfig": bucket,
        "workVolume": {"emptyDir": {}},
        **extra,
    }


def _cluster(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "MySQLCluster",
        "metadata": {"name": "c"},
        "spec": {
            "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": "mysql"}]}},
            "volumeClaimTemplates": [
                {"metadata": {"name": "mysql-data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
            ],
            **spec,
        },
    }


def _restore(**fields: Any) -> dict[str, Any]:
    return {
        "sourceName": "a",
        "sourceNamespace": "b",
        "restorePoint": "2026-01-02T15:04:05Z",
        "jobConfig": _job_config(),
        **fields,
    }


def _policy(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "BackupPolicy",
        "metadata": {"name": "p"},
        "spec": {"schedule": "@daily", "jobConfig": _job_config(), **spec},
    }


def _template_meta(**meta: Any) -> dict[str, Any]:
    return {"metadata": meta, "spec": {"containers": [{"name": "mysqld", "image": "mysql"}]}}


#: case -> (object at the bound, object past it, the field the error names)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "replicas": (_cluster(replicas=15), _cluster(replicas=INT32_MAX), "spec.replicas"),
    "replicas-17": (_cluster(replicas=15), _cluster(replicas=17), "spec.replicas"),
    "server-id-base": (_cluster(serverIDBase=INT32_MAX), _cluster(serverIDBase=2**31), "spec.serverIDBase"),
    "max-delay-seconds": (
        _cluster(maxDelaySeconds=INT32_MAX),
        _cluster(maxDelaySeconds=2**31),
        "spec.maxDelaySeconds",
    ),
    "max-delay-seconds-for-pod-deletion": (
        _cluster(maxDelaySecondsForPodDeletion=INT32_MAX),
        _cluster(maxDelaySecondsForPodDeletion=2**31),
        "spec.maxDelaySecondsForPodDeletion",
    ),
    "startup-wait-seconds": (
        _cluster(startupWaitSeconds=INT32_MAX),
        _cluster(startupWaitSeconds=2**31),
        "spec.startupWaitSeconds",
    ),
    "log-rotation-size": (
        _cluster(logRotationSize=2**50),
        _cluster(logRotationSize=2**50 + 1),
        "spec.logRotationSize",
    ),
    "collectors-item": (
        _cluster(collectors=["x" * 128]),
        _cluster(collectors=["x" * 129]),
        "spec.collectors[0]",
    ),
    "mysql-config-map-name": (
        _cluster(mysqlConfigMapName="x" * 253),
        _cluster(mysqlConfigMapName="x" * 254),
        "spec.mysqlConfigMapName",
    ),
    "replication-source-secret-name": (
        _cluster(replicationSourceSecretName="x" * 253),
        _cluster(replicationSourceSecretName="x" * 254),
        "spec.replicationSourceSecretName",
    ),
    "backup-policy-name": (
        _cluster(backupPolicyName="x" * 253),
        _cluster(backupPolicyName="x" * 254),
        "spec.backupPolicyName",
    ),
    "slow-query-log-config-tmpl": (
        _cluster(slowQueryLogConfigTmpl="x" * 65536),
        _cluster(slowQueryLogConfigTmpl="x" * 65537),
        "spec.slowQueryLogConfigTmpl",
    ),
    "overwrite-containers": (
        _cluster(podTemplate={**_template_meta(), "overwriteContainers": [{"name": "agent"}] * 8}),
        _cluster(podTemplate={**_template_meta(), "overwriteContainers": [{"name": "agent"}] * 9}),
        "spec.podTemplate.overwriteContainers",
    ),
    "template-name": (
        _cluster(podTemplate=_template_meta(name="x" * 253)),
        _cluster(podTemplate=_template_meta(name="x" * 254)),
        "spec.podTemplate.metadata.name",
    ),
    "template-label-value": (
        _cluster(podTemplate=_template_meta(labels={"a": "x" * 63})),
        _cluster(podTemplate=_template_meta(labels={"a": "x" * 64})),
        "spec.podTemplate.metadata.labels.a",
    ),
    "template-labels": (
        _cluster(podTemplate=_template_meta(labels={f"l{i}": "v" for i in range(64)})),
        _cluster(podTemplate=_template_meta(labels={f"l{i}": "v" for i in range(65)})),
        "spec.podTemplate.metadata.labels",
    ),
    "template-annotations": (
        _cluster(podTemplate=_template_meta(annotations={f"a{i}": "v" for i in range(64)})),
        _cluster(podTemplate=_template_meta(annotations={f"a{i}": "v" for i in range(65)})),
        "spec.podTemplate.metadata.annotations",
    ),
    "template-annotation-value": (
        _cluster(podTemplate=_template_meta(annotations={"a": "x" * 65536})),
        _cluster(podTemplate=_template_meta(annotations={"a": "x" * 65537})),
        "spec.podTemplate.metadata.annotations.a",
    ),
    "restore-source-name": (
        _cluster(restore=_restore(sourceName="x" * 253)),
        _cluster(restore=_restore(sourceName="x" * 254)),
        "spec.restore.sourceName",
    ),
    "restore-source-namespace": (
        _cluster(restore=_restore(sourceNamespace="x" * 63)),
        _cluster(restore=_restore(sourceNamespace="x" * 64)),
        "spec.restore.sourceNamespace",
    ),
    "restore-schema": (
        _cluster(restore=_restore(schema="x" * 64)),
        _cluster(restore=_restore(schema="x" * 65)),
        "spec.restore.schema",
    ),
    "restore-users": (
        _cluster(restore=_restore(users="x" * 65536)),
        _cluster(restore=_restore(users="x" * 65537)),
        "spec.restore.users",
    ),
    "job-threads": (
        _policy(jobConfig=_job_config(threads=256)),
        _policy(jobConfig=_job_config(threads=257)),
        "spec.jobConfig.threads",
    ),
    "job-service-account-name": (
        _policy(jobConfig=_job_config(serviceAccountName="x" * 253)),
        _policy(jobConfig=_job_config(serviceAccountName="x" * 254)),
        "spec.jobConfig.serviceAccountName",
    ),
    "bucket-name": (
        _policy(jobConfig=_job_config(bucketConfig={"bucketName": "x" * 255})),
        _policy(jobConfig=_job_config(bucketConfig={"bucketName": "x" * 256})),
        "spec.jobConfig.bucketConfig.bucketName",
    ),
    "bucket-region": (
        _policy(jobConfig=_job_config(bucketConfig={"region": "x" * 128})),
        _policy(jobConfig=_job_config(bucketConfig={"region": "x" * 129})),
        "spec.jobConfig.bucketConfig.region",
    ),
    "bucket-endpoint-url": (
        _policy(jobConfig=_job_config(bucketConfig={"endpointURL": "http://" + "x" * 2041})),
        _policy(jobConfig=_job_config(bucketConfig={"endpointURL": "http://" + "x" * 2042})),
        "spec.jobConfig.bucketConfig.endpointURL",
    ),
    "starting-deadline-seconds": (
        _policy(startingDeadlineSeconds=INT32_MAX),
        _policy(startingDeadlineSeconds=2**31),
        "spec.startingDeadlineSeconds",
    ),
    "active-deadline-seconds": (
        _policy(activeDeadlineSeconds=INT32_MAX),
        _policy(activeDeadlineSeconds=2**31),
        "spec.activeDeadlineSeconds",
    ),
    "backoff-limit": (
        _policy(backoffLimit=INT32_MAX),
        _policy(backoffLimit=2**31),
        "spec.backoffLimit",
    ),
    "successful-jobs-history-limit": (
        _policy(successfulJobsHistoryLimit=1000),
        _policy(successfulJobsHistoryLimit=1001),
        "spec.successfulJobsHistoryLimit",
    ),
    "failed-jobs-history-limit": (
        _policy(failedJobsHistoryLimit=1000),
        _policy(failedJobsHistoryLimit=1001),
        "spec.failedJobsHistoryLimit",
    ),
    "time-zone": (
        _policy(timeZone="x" * 128),
        _policy(timeZone="x" * 129),
        "spec.timeZone",
    ),
}


async def _create(kube: Client, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    res = MYSQLCLUSTERS if obj["kind"] == "MySQLCluster" else BACKUPPOLICIES
    return await kube.create(res, obj, query=STRICT)


async def test_replicas_int32_max_is_refused(kube: Client, namespace: str) -> None:
    """The finding: an odd, huge replica count passed every rule."""
    with pytest.raises(errors.Invalid) as err:
        await _create(kube, _cluster(replicas=INT32_MAX), namespace)
    causes = {c.field: c.message for c in err.value.causes}
    assert "spec.replicas" in causes, err.value.message
    assert "15" in causes["spec.replicas"], causes


@pytest.mark.parametrize("case", sorted(CASES))
async def test_past_the_bound_is_refused_at_the_bound_accepted(
    kube: Client, namespace: str, case: str
) -> None:
    at, past, field = CASES[case]
    with pytest.raises(errors.Invalid) as err:
        await _create(kube, past, namespace)
    fields = {c.field for c in err.value.causes}
    assert field in fields, (fields, err.value.message)
    stored = await _create(kube, at, namespace)
    assert stored["metadata"]["uid"]


@pytest.mark.parametrize("field", ["cpu", "maxCpu", "memory", "maxMemory"])
async def test_job_quantity_string_is_bounded(kube: Client, namespace: str, field: str) -> None:
    long = "1" * 65
    with pytest.raises(errors.Invalid) as err:
        await _create(kube, _policy(jobConfig=_job_config(**{field: long})), namespace)
    assert f"spec.jobConfig.{field}" in {c.field for c in err.value.causes}, err.value.message
    stored = await _create(kube, _policy(jobConfig=_job_config(**{field: "1" * 64})), namespace)
    assert stored["spec"]["jobConfig"][field] == "1" * 64
