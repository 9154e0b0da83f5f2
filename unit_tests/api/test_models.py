"""The models read every MOCO example manifest and write it back unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from moco.api import BackupPolicy, InvalidObject, MySQLCluster
from moco.api.base import Model

EXAMPLES = Path(__file__).parent / "examples"
KINDS: dict[str, type[Model]] = {"MySQLCluster": MySQLCluster, "BackupPolicy": BackupPolicy}


def example_docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for f in sorted(EXAMPLES.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(f.read_text())):
            if doc and doc.get("kind") in KINDS:
                out.append((f"{f.stem}-{i}", doc))
    return out


FRAGMENTS = {"anti-affinity-backuppolicy-0"}
DOCS = example_docs()


def test_examples_are_present() -> None:
    assert len(DOCS) == 7


@pytest.mark.parametrize(("doc_id", "doc"), [d for d in DOCS if d[0] not in FRAGMENTS], ids=lambda x: x)
def test_example_round_trips(doc_id: str, doc: dict[str, Any]) -> None:
    model = KINDS[doc["kind"]].model_validate(doc)
    assert model.model_dump(by_alias=True, exclude_none=True) == doc
    assert model.to_json() == doc


def test_backuppolicy_fragment_is_refused_naming_the_missing_fields() -> None:
    doc = dict(DOCS)["anti-affinity-backuppolicy-0"]
    with pytest.raises(InvalidObject) as err:
        BackupPolicy.parse(doc)
    for field in (
        "spec.jobConfig.serviceAccountName",
        "spec.jobConfig.bucketConfig",
        "spec.jobConfig.workVolume",
    ):
        assert field in str(err.value)
    assert err.value.name == "daily"


def _cluster(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "MySQLCluster",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {
            "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": "mysql"}]}},
            "volumeClaimTemplates": [
                {"metadata": {"name": "mysql-data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
            ],
            **spec,
        },
    }


def test_every_spec_field_round_trips_with_its_json_name() -> None:
    job = {
        "serviceAccountName": "sa",
        "bucketConfig": {
            "bucketName": "b",
            "region": "r",
            "endpointURL": "https://s3.example",
            "usePathStyle": True,
            "backendType": "azure",
            "caCert": "/certs/ca.crt",
        },
        "workVolume": {"emptyDir": {}},
        "threads": 2,
        "cpu": "1",
        "maxCpu": 2,
        "memory": "1Gi",
        "maxMemory": "2Gi",
        "envFrom": [{"secretRef": {"name": "s"}}],
        "env": [{"name": "A", "value": "b"}],
        "affinity": {"nodeAffinity": {}},
        "volumes": [{"name": "v", "emptyDir": {}}],
        "volumeMounts": [{"name": "v", "mountPath": "/v"}],
    }
    doc = _cluster(
        replicas=3,
        primaryServiceTemplate={"metadata": {"labels": {"a": "b"}}, "spec": {"type": "LoadBalancer"}},
        replicaServiceTemplate={"metadata": {"annotations": {"a": "b"}}},
        mysqlConfigMapName="cm",
        replicationSourceSecretName="src",
        collectors=["engine_innodb_status"],
        serverIDBase=100,
        maxDelaySeconds=0,
        maxDelaySecondsForPodDeletion=10,
        startupWaitSeconds=10,
        logRotationSchedule="@hourly",
        logRotationSize=1024,
        backupPolicyName="daily",
        restore={
            "sourceName": "a",
            "sourceNamespace": "b",
            "restorePoint": "2026-01-02T15:04:05Z",
            "jobConfig": job,
            "schema": "db",
            "users": "u1,u2",
        },
        disableSlowQueryLogContainer=True,
        slowQueryLogConfigTmpl="x",
        agentUseLocalhost=True,
        initializeTimezoneData=True,
        offline=False,
    )
    doc["spec"]["podTemplate"]["metadata"] = {
        "name": "ignored",
        "labels": {"l": "v"},
        "annotations": {"a": "v"},
    }
    doc["spec"]["podTemplate"]["overwriteContainers"] = [
        {"name": "agent", "resources": {"limits": {"cpu": "1"}}, "securityContext": {"runAsUser": 1}}
    ]
    m = MySQLCluster.model_validate(doc)
    assert m.to_json() == doc
    assert m.spec.server_id_base == 100
    assert m.spec.restore is not None
    assert m.spec.restore.schema_ == "db"
    assert m.spec.restore.job_config.bucket_config.endpoint_url == "https://s3.example"
    assert m.spec.pod_template.overwrite_containers is not None
    assert m.spec.pod_template.overwrite_containers[0].security_context == {"runAsUser": 1}


def test_status_round_trips() -> None:
    doc = _cluster()
    doc["status"] = {
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "reason": "Ok",
                "message": "",
                "observedGeneration": 2,
            }
        ],
        "currentPrimaryIndex": 1,
        "syncedReplicas": 3,
        "errantReplicas": 1,
        "errantReplicaList": [2],
        "backup": {
            "time": "2026-01-01T00:00:00Z",
            "elapsed": "1m0s",
            "sourceIndex": 1,
            "sourceUUID": "u",
            "uuidSet": {"0": "u0"},
            "binlogFilename": "binlog.000001",
            "gtidSet": "u:1-5",
            "dumpSize": 10,
            "binlogSize": 20,
            "workDirUsage": 30,
            "warnings": ["w"],
        },
        "restoredTime": "2026-01-01T00:00:00Z",
        "cloned": True,
        "reconcileInfo": {"generation": 2, "reconcileVersion": 1},
    }
    m = MySQLCluster.model_validate(doc)
    assert m.to_json() == doc
    assert m.status is not None
    available = m.status.condition("Available")
    assert available is not None
    assert available.status == "True"
    assert m.status.condition("Healthy") is None


def test_unknown_fields_and_wrong_types_are_refused() -> None:
    with pytest.raises(InvalidObject, match=r"spec\.replica: Extra inputs"):
        MySQLCluster.parse(_cluster(replica=3))
    with pytest.raises(InvalidObject, match=r"spec\.podTemplate\.overwriteContainers\.0\.name"):
        MySQLCluster.parse(
            _cluster(podTemplate={"spec": {"containers": []}, "overwriteContainers": [{"name": "mysqld"}]})
        )


def test_snake_case_names_are_accepted_and_dumped_as_json_names() -> None:
    m = MySQLCluster.model_validate(_cluster())
    m.spec.server_id_base = 7
    m.spec.mysql_config_map_name = "cm"
    assert m.to_json()["spec"]["serverIDBase"] == 7
    assert m.to_json()["spec"]["mysqlConfigMapName"] == "cm"


def test_backup_status_keeps_the_required_nulls() -> None:
    # MOCO writes an empty backup status with time and warnings as null; the CRD requires them.
    doc = _cluster()
    doc["status"] = {
        "currentPrimaryIndex": 0,
        "backup": {
            "time": None,
            "elapsed": "0s",
            "sourceIndex": 0,
            "sourceUUID": "",
            "binlogFilename": "",
            "gtidSet": "",
            "dumpSize": 0,
            "binlogSize": 0,
            "workDirUsage": 0,
            "warnings": None,
        },
    }
    assert MySQLCluster.model_validate(doc).to_json() == doc
