"""Every number, list and string of moco's own API fields is bounded, in a real kube-apiserver.

One tenant must not be able to make the operator allocate without limit for every cluster it
manages: ``spec.replicas: 2147483647`` (odd, so it passed every other rule) had the operator
allocate per ordinal. Each case below is one field just past its bound, refused with the field
named; the same object at the bound is accepted (so the bounds are not stricter than said).
The bounds are in the field descriptions and the README's validation table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
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


Build = Callable[[Any], dict[str, Any]]


def spec(key: str) -> Build:
    return lambda v: _cluster(**{key: v})


def template(**meta: Callable[[Any], Any]) -> Build:
    ((key, value),) = meta.items()
    return lambda v: _cluster(podTemplate=_template_meta(**{key: value(v)}))


def restore(key: str) -> Build:
    return lambda v: _cluster(restore=_restore(**{key: v}))


def policy(key: str) -> Build:
    return lambda v: _policy(**{key: v})


def job(key: str) -> Build:
    return lambda v: _policy(jobConfig=_job_config(**{key: v}))


def bucket(key: str) -> Build:
    return lambda v: _policy(jobConfig=_job_config(bucketConfig={key: v}))


def _containers(n: int) -> dict[str, Any]:
    return _cluster(podTemplate={**_template_meta(), "overwriteContainers": [{"name": "agent"}] * n})


def x(n: int) -> str:
    return "x" * n


def n_keys(prefix: str) -> Callable[[int], dict[str, str]]:
    return lambda n: {f"{prefix}{i}": "v" for i in range(n)}


#: (case, how the object is built from the value, value at the bound, value past it, the field
#: the error names)
ROWS: list[tuple[str, Build, Any, Any, str]] = [
    ("replicas", spec("replicas"), 15, INT32_MAX, "spec.replicas"),
    ("replicas-17", spec("replicas"), 15, 17, "spec.replicas"),
    ("server-id-base", spec("serverIDBase"), INT32_MAX, 2**31, "spec.serverIDBase"),
    ("max-delay-seconds", spec("maxDelaySeconds"), INT32_MAX, 2**31, "spec.maxDelaySeconds"),
    (
        "max-delay-seconds-for-pod-deletion",
        spec("maxDelaySecondsForPodDeletion"),
        INT32_MAX,
        2**31,
        "spec.maxDelaySecondsForPodDeletion",
    ),
    ("startup-wait-seconds", spec("startupWaitSeconds"), INT32_MAX, 2**31, "spec.startupWaitSeconds"),
    ("log-rotation-size", spec("logRotationSize"), 2**50, 2**50 + 1, "spec.logRotationSize"),
    ("collectors-item", lambda v: _cluster(collectors=[v]), x(128), x(129), "spec.collectors[0]"),
    ("mysql-config-map-name", spec("mysqlConfigMapName"), x(253), x(254), "spec.mysqlConfigMapName"),
    (
        "replication-source-secret-name",
        spec("replicationSourceSecretName"),
        x(253),
        x(254),
        "spec.replicationSourceSecretName",
    ),
    ("backup-policy-name", spec("backupPolicyName"), x(253), x(254), "spec.backupPolicyName"),
    (
        "slow-query-log-config-tmpl",
        spec("slowQueryLogConfigTmpl"),
        x(65536),
        x(65537),
        "spec.slowQueryLogConfigTmpl",
    ),
    ("overwrite-containers", _containers, 8, 9, "spec.podTemplate.overwriteContainers"),
    ("template-name", template(name=x), 253, 254, "spec.podTemplate.metadata.name"),
    (
        "template-label-value",
        template(labels=lambda n: {"a": x(n)}),
        63,
        64,
        "spec.podTemplate.metadata.labels.a",
    ),
    ("template-labels", template(labels=n_keys("l")), 64, 65, "spec.podTemplate.metadata.labels"),
    (
        "template-annotations",
        template(annotations=n_keys("a")),
        64,
        65,
        "spec.podTemplate.metadata.annotations",
    ),
    (
        "template-annotation-value",
        template(annotations=lambda n: {"a": x(n)}),
        65536,
        65537,
        "spec.podTemplate.metadata.annotations.a",
    ),
    ("restore-source-name", restore("sourceName"), x(253), x(254), "spec.restore.sourceName"),
    ("restore-source-namespace", restore("sourceNamespace"), x(63), x(64), "spec.restore.sourceNamespace"),
    ("restore-schema", restore("schema"), x(64), x(65), "spec.restore.schema"),
    ("restore-users", restore("users"), x(65536), x(65537), "spec.restore.users"),
    ("job-threads", job("threads"), 256, 257, "spec.jobConfig.threads"),
    (
        "job-service-account-name",
        job("serviceAccountName"),
        x(253),
        x(254),
        "spec.jobConfig.serviceAccountName",
    ),
    ("bucket-name", bucket("bucketName"), x(255), x(256), "spec.jobConfig.bucketConfig.bucketName"),
    ("bucket-region", bucket("region"), x(128), x(129), "spec.jobConfig.bucketConfig.region"),
    (
        "bucket-endpoint-url",
        bucket("endpointURL"),
        "http://" + x(2041),
        "http://" + x(2042),
        "spec.jobConfig.bucketConfig.endpointURL",
    ),
    (
        "starting-deadline-seconds",
        policy("startingDeadlineSeconds"),
        INT32_MAX,
        2**31,
        "spec.startingDeadlineSeconds",
    ),
    (
        "active-deadline-seconds",
        policy("activeDeadlineSeconds"),
        INT32_MAX,
        2**31,
        "spec.activeDeadlineSeconds",
    ),
    ("backoff-limit", policy("backoffLimit"), INT32_MAX, 2**31, "spec.backoffLimit"),
    (
        "successful-jobs-history-limit",
        policy("successfulJobsHistoryLimit"),
        1000,
        1001,
        "spec.successfulJobsHistoryLimit",
    ),
    (
        "failed-jobs-history-limit",
        policy("failedJobsHistoryLimit"),
        1000,
        1001,
        "spec.failedJobsHistoryLimit",
    ),
    ("time-zone", policy("timeZone"), x(128), x(129), "spec.timeZone"),
]
#: case -> (object at the bound, object past it, the field the error names)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    case: (build(at), build(past), field) for case, build, at, past, field in ROWS
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
