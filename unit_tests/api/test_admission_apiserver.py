"""The CRDs in a real kube-apiserver: MOCO's manifests apply, invalid ones are refused.

* every example manifest applies and reads back as the models predict (CRD defaults included);
* every file of ``invalid/`` is refused, with a message naming the field. A file holds
  ``expect`` (substrings of the error), ``object`` and, for an update, ``old`` (created first,
  then replaced by ``object``). Requests use strict field validation, as ``kubectl`` does;
* valid edge cases are accepted, so the rules are not stricter than MOCO's;
* the published OpenAPI v3 carries the embedded Pod schema (what ``kubectl explain`` reads);
* the admission policies refuse deleting a BackupPolicy in use and growing a claim whose
  StorageClass does not allow expansion.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from moco.api import BackupPolicy, BackupStatus, Condition, MySQLCluster, MySQLClusterStatus
from moco.api import policy as admission
from moco.api.defaults import backuppolicy_schema_defaulted, schema_defaulted
from moco.constants import GROUP, VERSION
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import Resource

pytestmark = pytest.mark.apiserver

HERE = Path(__file__).parent
EXAMPLES = HERE / "examples"
CORPUS = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((HERE / "invalid").glob("*.yaml"))}
POLICY_FILE = HERE.parents[1] / "manifests" / "crd" / admission.FILE

MYSQLCLUSTERS = Resource(GROUP, VERSION, "mysqlclusters", "MySQLCluster")
BACKUPPOLICIES = Resource(GROUP, VERSION, "backuppolicies", "BackupPolicy")
STORAGECLASSES = Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False)
POLICIES = Resource(
    "admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy", False
)
BINDINGS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicybindings",
    "ValidatingAdmissionPolicyBinding",
    False,
)
RESOURCES = {"MySQLCluster": MYSQLCLUSTERS, "BackupPolicy": BACKUPPOLICIES}
STRICT = {"fieldValidation": "Strict"}


def _error_text(err: errors.KubeError) -> str:
    causes = err.causes if isinstance(err, errors.Invalid) else []
    return err.message + " " + " ".join(f"{c.field}: {c.message}" for c in causes)


async def _create(kube: Client, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    return await kube.create(RESOURCES[obj["kind"]], obj, query=STRICT)


async def _replace(kube: Client, obj: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = current["metadata"]["namespace"]
    obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    return await kube.replace(RESOURCES[obj["kind"]], obj, query=STRICT)


def _cluster(name: str = "c", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "MySQLCluster",
        "metadata": {"name": name},
        "spec": {
            "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": "mysql"}]}},
            "volumeClaimTemplates": [
                {"metadata": {"name": "mysql-data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
            ],
            **spec,
        },
    }


def _policy(name: str = "daily", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "BackupPolicy",
        "metadata": {"name": name},
        "spec": {
            "schedule": "@daily",
            "jobConfig": {
                "serviceAccountName": "sa",
                "bucketConfig": {"bucketName": "b"},
                "workVolume": {"emptyDir": {}},
            },
            **spec,
        },
    }


# --- the examples -----------------------------------------------------------------------------
def _examples() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for f in sorted(EXAMPLES.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(f.read_text())):
            if doc and doc.get("kind") in RESOURCES:
                out.append((f"{f.stem}-{i}", doc))
    return out


EXAMPLE_DOCS = [d for d in _examples() if d[0] != "anti-affinity-backuppolicy-0"]


@pytest.mark.parametrize(("doc_id", "doc"), EXAMPLE_DOCS, ids=[d[0] for d in EXAMPLE_DOCS])
async def test_example_applies_and_reads_back_as_the_model_predicts(
    kube: Client, namespace: str, doc_id: str, doc: dict[str, Any]
) -> None:
    # Applied unchanged but for the namespace: each test has its own.
    stored = await _create(kube, doc, namespace)
    if doc["kind"] == "MySQLCluster":
        expected = schema_defaulted(MySQLCluster.model_validate(doc)).to_json()
        got = MySQLCluster.model_validate(stored).to_json()
    else:
        expected = backuppolicy_schema_defaulted(BackupPolicy.model_validate(doc)).to_json()
        got = BackupPolicy.model_validate(stored).to_json()
    assert got["spec"] == expected["spec"]
    assert stored["metadata"]["name"] == doc["metadata"]["name"]


async def test_backuppolicy_example_fragment_is_refused_like_moco(kube: Client, namespace: str) -> None:
    doc = yaml.safe_load((EXAMPLES / "anti-affinity-backuppolicy.yaml").read_text())
    with pytest.raises(errors.Invalid) as err:
        await _create(kube, doc, namespace)
    fields = {c.field for c in err.value.causes}
    assert {
        "spec.jobConfig.serviceAccountName",
        "spec.jobConfig.bucketConfig",
        "spec.jobConfig.workVolume",
    } <= fields
    # completed with what the fragment leaves out, it applies
    doc["spec"]["jobConfig"].update(
        {"serviceAccountName": "sa", "bucketConfig": {"bucketName": "b"}, "workVolume": {"emptyDir": {}}}
    )
    stored = await _create(kube, doc, namespace)
    assert stored["spec"]["jobConfig"]["affinity"] == doc["spec"]["jobConfig"]["affinity"]


# --- the invalid corpus -----------------------------------------------------------------------
def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40
    updates = [name for name, case in CORPUS.items() if "old" in case]
    assert len(updates) >= 5


@pytest.mark.parametrize("name", sorted(CORPUS))
async def test_invalid_manifest_is_refused_naming_the_field(kube: Client, namespace: str, name: str) -> None:
    case = CORPUS[name]
    if "old" in case:
        current = await _create(kube, case["old"], namespace)
        with pytest.raises(errors.KubeError) as err:
            await _replace(kube, case["object"], current)
    else:
        with pytest.raises(errors.KubeError) as err:
            await _create(kube, case["object"], namespace)
    assert isinstance(err.value, errors.Invalid | errors.BadRequest), err.value
    text = _error_text(err.value)
    for expected in case["expect"]:
        assert expected in text, text


# --- valid edge cases -------------------------------------------------------------------------
def _mysqld(**extra: Any) -> dict[str, Any]:
    return {"name": "mysqld", "image": "mysql", **extra}


VALID_CREATES = {
    "name-40-characters": _cluster("a" * 40),
    "replicas-5": _cluster(replicas=5),
    "slow-log-container-when-disabled": _cluster(
        disableSlowQueryLogContainer=True,
        podTemplate={"spec": {"containers": [_mysqld(), {"name": "slow-log", "image": "x"}]}},
    ),
    "exporter-container-without-collectors": _cluster(
        podTemplate={"spec": {"containers": [_mysqld(), {"name": "mysqld-exporter", "image": "x"}]}}
    ),
    "exporter-container-with-empty-collectors": _cluster(
        collectors=[],
        podTemplate={"spec": {"containers": [_mysqld(), {"name": "mysqld-exporter", "image": "x"}]}},
    ),
    "other-ports-on-mysqld": _cluster(
        podTemplate={"spec": {"containers": [_mysqld(ports=[{"name": "metrics", "containerPort": 8080}])]}}
    ),
    "reserved-port-on-another-container": _cluster(
        podTemplate={
            "spec": {
                "containers": [
                    _mysqld(),
                    {"name": "proxy", "image": "x", "ports": [{"name": "mysql", "containerPort": 3306}]},
                ]
            }
        }
    ),
    "user-volume-and-init-container": _cluster(
        podTemplate={
            "spec": {
                "containers": [_mysqld()],
                "initContainers": [{"name": "setup", "image": "x"}],
                "volumes": [{"name": "extra", "emptyDir": {}}],
            }
        }
    ),
    "extra-claim-template": _cluster(
        volumeClaimTemplates=[
            {"metadata": {"name": "mysql-data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}},
            {"metadata": {"name": "logs"}, "spec": {"resources": {"requests": {"storage": 1073741824}}}},
        ]
    ),
    "cron-schedules": _cluster(logRotationSchedule="*/5 * * * *"),
    "cron-every": _cluster(logRotationSchedule="@every 1h"),
    "server-id-base-zero": _cluster(serverIDBase=0),
    "nullable-names-null": _cluster(
        mysqlConfigMapName=None, backupPolicyName=None, replicationSourceSecretName=None
    ),
    "restore": _cluster(
        restore={
            "sourceName": "a",
            "sourceNamespace": "b",
            "restorePoint": "2026-01-02T15:04:05Z",
            "jobConfig": {
                "serviceAccountName": "sa",
                "bucketConfig": {
                    "bucketName": "b",
                    "endpointURL": "https://minio:9000",
                    "backendType": "azure",
                    "caCert": "/minio-cert/ca.crt",
                },
                "workVolume": {
                    "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}
                },
            },
        }
    ),
    "backuppolicy-full": _policy(
        schedule="TZ=Asia/Tokyo 0 3 * * *",
        concurrencyPolicy="Forbid",
        startingDeadlineSeconds=60,
        activeDeadlineSeconds=3600,
        backoffLimit=0,
        successfulJobsHistoryLimit=0,
        failedJobsHistoryLimit=0,
        timeZone="Asia/Tokyo",
    ),
}


@pytest.mark.parametrize("name", sorted(VALID_CREATES))
async def test_valid_edge_case_is_accepted(kube: Client, namespace: str, name: str) -> None:
    stored = await _create(kube, VALID_CREATES[name], namespace)
    assert stored["metadata"]["uid"]


VALID_UPDATES = {
    "replicas-increase": (_cluster(replicas=1), _cluster(replicas=3)),
    "replication-source-removed": (
        _cluster(replicationSourceSecretName="src"),
        _cluster(),
    ),
    "replication-source-set-to-null": (
        _cluster(replicationSourceSecretName="src"),
        _cluster(replicationSourceSecretName=None),
    ),
    "replication-source-kept": (
        _cluster(replicationSourceSecretName="src"),
        _cluster(replicationSourceSecretName="src", replicas=3),
    ),
    "restore-kept-other-fields-change": (
        VALID_CREATES["restore"],
        {**VALID_CREATES["restore"], "spec": {**VALID_CREATES["restore"]["spec"], "offline": True}},
    ),
    "server-id-base-set-later": (_cluster(), _cluster(serverIDBase=7)),
    "server-id-base-changed": (_cluster(serverIDBase=7), _cluster(serverIDBase=8)),
}


@pytest.mark.parametrize("name", sorted(VALID_UPDATES))
async def test_valid_update_is_accepted(kube: Client, namespace: str, name: str) -> None:
    old, new = VALID_UPDATES[name]
    current = await _create(kube, old, namespace)
    stored = await _replace(kube, new, current)
    assert stored["metadata"]["generation"] >= current["metadata"]["generation"]


async def test_stored_object_equals_the_python_defaulting(kube: Client, namespace: str) -> None:
    # CRD defaults at every level: MOCO's fields, JobConfig's, and upstream ones (port protocol)
    doc = {
        **VALID_CREATES["restore"],
        "metadata": {"name": "defaults"},
    }
    doc["spec"] = {
        **doc["spec"],
        "podTemplate": {"spec": {"containers": [_mysqld(ports=[{"name": "m", "containerPort": 8080}])]}},
        "primaryServiceTemplate": {"spec": {"ports": [{"name": "x", "port": 80}]}},
    }
    stored = await _create(kube, doc, namespace)
    expected = schema_defaulted(MySQLCluster.model_validate(doc)).to_json()
    assert stored["spec"] == expected["spec"]
    assert stored["spec"]["podTemplate"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert stored["spec"]["restore"]["jobConfig"]["threads"] == 4
    policy = await _create(kube, _policy("p"), namespace)
    assert (
        policy["spec"]
        == backuppolicy_schema_defaulted(BackupPolicy.model_validate(_policy("p"))).to_json()["spec"]
    )


async def test_unknown_fields_are_pruned_without_strict_validation(kube: Client, namespace: str) -> None:
    doc = _cluster(podTemplate={"spec": {"containers": [_mysqld(imagee="typo")]}})
    doc["metadata"]["namespace"] = namespace
    stored = await kube.create(MYSQLCLUSTERS, doc)
    assert stored["spec"]["podTemplate"]["spec"]["containers"] == [{"name": "mysqld", "image": "mysql"}]


async def test_crds_are_established(kube: Client) -> None:
    crds = Resource(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False
    )
    for plural in ("mysqlclusters", "backuppolicies"):
        crd = await kube.get(crds, f"{plural}.{GROUP}")
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True"
        assert conditions["NamesAccepted"] == "True"


async def test_status_written_from_the_model_is_accepted(kube: Client, namespace: str) -> None:
    current = await _create(kube, _cluster("st"), namespace)
    status = MySQLClusterStatus(
        conditions=[
            Condition(
                type="Available",
                status="True",
                last_transition_time="2026-01-01T00:00:00Z",
                reason="Healthy",
                message="",
            )
        ],
        current_primary_index=1,
        synced_replicas=1,
        backup=BackupStatus(),
    )
    current["status"] = status.to_json()
    stored = await kube.update_status(MYSQLCLUSTERS, current)
    assert stored["status"] == status.to_json()
    assert MySQLCluster.model_validate(stored).status == status


# --- published OpenAPI v3 ---------------------------------------------------------------------
async def test_openapi_v3_publishes_the_embedded_pod_schema(kube: Client) -> None:
    path = f"/openapi/v3/apis/{GROUP}/{VERSION}"
    for _ in range(100):
        doc = await kube.request("GET", path)
        schemas = doc.get("components", {}).get("schemas", {})
        if "com.cybozu.moco.v1beta2.MySQLCluster" in schemas:
            break
        await asyncio.sleep(0.2)
    cluster = schemas["com.cybozu.moco.v1beta2.MySQLCluster"]
    pod = cluster["properties"]["spec"]["properties"]["podTemplate"]["properties"]["spec"]
    container = pod["properties"]["containers"]["items"]
    port = container["properties"]["ports"]["items"]["properties"]["containerPort"]
    assert port["type"] == "integer"
    assert port["format"] == "int32"
    assert "Number of port to expose" in port["description"]
    assert container["properties"]["image"]["type"] == "string"
    assert "livenessProbe" in container["properties"]
    policy = schemas["com.cybozu.moco.v1beta2.BackupPolicy"]
    job = policy["properties"]["spec"]["properties"]["jobConfig"]["properties"]
    assert "emptyDir" in job["workVolume"]["properties"]


# --- admission policies -----------------------------------------------------------------------
@pytest.fixture(scope="module")
async def policies(apiserver: Any) -> AsyncIterator[list[dict[str, Any]]]:
    client = await Client.from_kubeconfig(apiserver.kubeconfig)
    docs = list(yaml.safe_load_all(POLICY_FILE.read_text()))
    created = []
    try:
        # The ground installs them with the CRDs; create whatever is missing, remove only that.
        for doc in docs:
            res = POLICIES if doc["kind"] == "ValidatingAdmissionPolicy" else BINDINGS
            try:
                await client.create(res, doc)
            except errors.AlreadyExists:
                installed = await client.get(res, doc["metadata"]["name"])
                for key in ("validations", "variables", "paramKind", "policyName", "paramRef"):
                    assert installed["spec"].get(key) == doc["spec"].get(key), key
                continue
            created.append((res, doc["metadata"]["name"]))
        yield docs
    finally:
        for res, name in reversed(created):
            try:
                await client.delete(res, name)
            except errors.NotFound:
                pass
        await client.close()


async def _eventually_refused(call: Any, within: float = 30.0) -> errors.KubeError:
    """Repeat a dry-run ``call`` until admission refuses it (policies take effect asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await call()
        except (errors.Invalid, errors.Forbidden) as e:
            return e
        if loop.time() > deadline:
            pytest.fail("the admission policy never refused the request")
        await asyncio.sleep(0.2)


async def _eventually_allowed(call: Any, within: float = 30.0) -> None:
    """Repeat ``call`` while admission refuses it, until it is allowed (the policy's view of
    the objects it checks lags the writes a test just made)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await call()
            return
        except (errors.Invalid, errors.Forbidden):
            if loop.time() > deadline:
                raise
        await asyncio.sleep(0.2)


async def test_policies_type_check_cleanly(kube: Client, policies: list[dict[str, Any]]) -> None:
    for doc in policies:
        if doc["kind"] != "ValidatingAdmissionPolicy":
            continue
        for _ in range(100):
            got = await kube.get(POLICIES, doc["metadata"]["name"])
            status = got.get("status") or {}
            if status.get("observedGeneration") == got["metadata"]["generation"]:
                break
            await asyncio.sleep(0.1)
        assert not (status.get("typeChecking") or {}).get("expressionWarnings"), json.dumps(status)


async def test_backuppolicy_in_use_cannot_be_deleted(
    kube: Client, namespace: str, policies: list[dict[str, Any]]
) -> None:
    await _create(kube, _policy("daily"), namespace)
    await _create(kube, _policy("unused"), namespace)
    await _create(kube, _cluster("db", backupPolicyName="daily"), namespace)
    await _create(kube, _cluster("other"), namespace)

    async def dry_delete() -> None:
        await kube.delete(BACKUPPOLICIES, "daily", namespace, dry_run=True)

    err = await _eventually_refused(dry_delete)
    assert f"MySQLCluster {namespace}/db has a reference to this policy" in err.message
    with pytest.raises(errors.KubeError):
        await kube.delete(BACKUPPOLICIES, "daily", namespace)
    await kube.delete(BACKUPPOLICIES, "unused", namespace)
    # once no cluster names it, it can go: admission reads the clusters from the apiserver's
    # own informer, which sees the patch a moment later (CI saw one refusal right after it)
    await kube.patch(MYSQLCLUSTERS, "db", {"spec": {"backupPolicyName": None}}, namespace)
    await _eventually_allowed(lambda: kube.delete(BACKUPPOLICIES, "daily", namespace))
    with pytest.raises(errors.NotFound):
        await kube.get(BACKUPPOLICIES, "daily", namespace)


async def test_volume_cannot_grow_without_expansion(
    kube: Client, namespace: str, policies: list[dict[str, Any]]
) -> None:
    fixed, growable = f"{namespace}-fixed", f"{namespace}-growable"
    for name, allow in ((fixed, False), (growable, True)):
        await kube.create(
            STORAGECLASSES,
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": name},
                "provisioner": "example.com/none",
                "allowVolumeExpansion": allow,
            },
        )
    try:

        def claims(cls: str, size: str) -> list[dict[str, Any]]:
            return [
                {
                    "metadata": {"name": "mysql-data"},
                    "spec": {"storageClassName": cls, "resources": {"requests": {"storage": size}}},
                }
            ]

        await _create(kube, _cluster("fixed", volumeClaimTemplates=claims(fixed, "1Gi")), namespace)
        await _create(kube, _cluster("growable", volumeClaimTemplates=claims(growable, "1Gi")), namespace)

        async def dry_grow() -> None:
            current = await kube.get(MYSQLCLUSTERS, "fixed", namespace)
            current["spec"]["volumeClaimTemplates"] = claims(fixed, "2Gi")
            await kube.replace(MYSQLCLUSTERS, current, query={"dryRun": "All"})

        err = await _eventually_refused(dry_grow)
        assert f'storage class "{fixed}" is not allowed to expand volumes' in err.message
        assert "mysql-data cannot grow" in err.message
        # shrinking is allowed (the controller re-creates the claims), and so is growing elsewhere
        current = await kube.get(MYSQLCLUSTERS, "fixed", namespace)
        current["spec"]["volumeClaimTemplates"] = claims(fixed, "512Mi")
        await kube.replace(MYSQLCLUSTERS, current)
        current = await kube.get(MYSQLCLUSTERS, "growable", namespace)
        current["spec"]["volumeClaimTemplates"] = claims(growable, "10Gi")
        await kube.replace(MYSQLCLUSTERS, current)
    finally:
        for name in (fixed, growable):
            await kube.delete(STORAGECLASSES, name)
