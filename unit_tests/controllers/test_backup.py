"""Rendering of the backup CronJob, the restore Job and their RBAC (pure), and the restore step's
decisions: MOCO's own e2e manifests pinned by golden files, each rule by a table."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from moco import __version__, constants
from moco.api import BackupPolicy, BucketConfig, JobConfig, MySQLCluster, with_defaults
from moco.api.defaults import backuppolicy_schema_defaulted
from moco.controllers import backup, backupjobs
from moco.controllers.containers import BACKUP_IMAGE, Images, default_backup_image
from moco.controllers.errors import InvalidSpec
from unit_tests.controllers.render_helpers import UID, check_golden

TESTDATA = Path(__file__).parents[2] / "e2e" / "testdata" / "moco"
IMAGE = "localhost/moco/moco-backup:test"


def _docs(name: str, **subst: str) -> list[dict[str, Any]]:
    text = (TESTDATA / name).read_text()
    for k, v in subst.items():
        text = text.replace("{{ " + k + " }}", v)
    return [d for d in yaml.safe_load_all(text) if d]


def _cluster(doc: dict[str, Any]) -> MySQLCluster:
    doc = copy.deepcopy(doc)
    doc["metadata"]["uid"] = UID
    return with_defaults(MySQLCluster.parse(doc), random.Random(7))


def _policy(doc: dict[str, Any]) -> BackupPolicy:
    return backuppolicy_schema_defaulted(BackupPolicy.parse(copy.deepcopy(doc)))


def _kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind)


def test_moco_backup_manifest_matches_golden() -> None:
    docs = _docs("backup_with_env.yaml", **{".": "9.7.4"})
    cluster, policy = _cluster(_kind(docs, "MySQLCluster")), _policy(_kind(docs, "BackupPolicy"))
    objs = [
        backup.backup_cronjob(cluster, policy, IMAGE),
        backup.backup_role(cluster),
        backup.role_binding(cluster, "moco-backup-source", "backup-owner"),
    ]
    check_golden("backup-with-env.yaml", objs)
    cron = objs[0]
    assert cron["metadata"]["name"] == "moco-backup-source"
    c = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    # the CRD defaults (threads 4, backendType s3, cpu 4, memory 4Gi) reach the Pod
    assert c["args"] == [
        "backup",
        "--threads=4",
        "--endpoint=http://minio.default.svc:9000",
        "--use-path-style=true",
        "--backend-type=s3",
        "$(BUCKET_NAME)",  # expanded by the kubelet from envFrom, as in MOCO's e2e
        "backup",
        "source",
    ]
    assert c["resources"] == {"requests": {"cpu": "4", "memory": "4Gi"}}
    assert c["envFrom"] == [{"configMapRef": {"name": "bucket-name"}}]


def test_moco_restore_manifest_matches_golden() -> None:
    docs = _docs(
        "restore_tls.yaml", **{".RestorePoint": "2026-12-01T10:20:30+09:00", ".MySQLVersion": "9.7.4"}
    )
    cluster = _cluster(_kind(docs, "MySQLCluster"))
    objs = [
        backup.restore_job(cluster, IMAGE),
        backup.restore_role(cluster),
        backup.role_binding(cluster, "moco-restore-target", "backup-owner"),
    ]
    check_golden("restore-tls.yaml", objs)
    job = objs[0]
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["args"] == [
        "restore",
        "--threads=4",
        "--endpoint=https://minio-tls.default.svc:9000",
        "--use-path-style=true",
        "--backend-type=s3",
        "--ca-cert-file-path=/minio-cert/ca.crt",
        "moco",
        "backup-tls",
        "source",
        "backup-tls",
        "target",
        "20261201-012030",  # the restore point in UTC
        "",
        "",
    ]
    assert c["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "moco-target", "key": "ADMIN_PASSWORD"}
    assert c["env"][1] == {
        "name": "POD_IP",
        "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}},
    }
    passwords = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"][2:10]}
    assert passwords == {k: {"name": "moco-target", "key": k} for k in constants.PASSWORD_KEYS.values()}
    assert c["env"][10]["name"] == "AWS_ACCESS_KEY_ID"  # the user's env follows
    assert {"mountPath": "/minio-cert", "name": "minio-cert"} in c["volumeMounts"]
    assert [v["name"] for v in pod["volumes"]] == ["work", "minio-cert"]


def _jc(**over: Any) -> JobConfig:
    base: dict[str, Any] = {
        "serviceAccountName": "sa",
        "bucketConfig": {"bucketName": "b"},
        "workVolume": {"emptyDir": {}},
    }
    base.update(over)
    return JobConfig.parse(base)


@pytest.mark.parametrize(
    ("bucket", "want"),
    [
        ({"bucketName": "b"}, ["b"]),
        ({"bucketName": "b", "region": "r"}, ["--region=r", "b"]),
        ({"bucketName": "b", "endpointURL": "http://x:9000"}, ["--endpoint=http://x:9000", "b"]),
        ({"bucketName": "b", "usePathStyle": False}, ["b"]),
        ({"bucketName": "b", "usePathStyle": True}, ["--use-path-style=true", "b"]),
        ({"bucketName": "b", "backendType": "gcs"}, ["--backend-type=gcs", "b"]),
        ({"bucketName": "b", "backendType": "azure"}, ["--backend-type=azure", "b"]),
        ({"bucketName": "b", "caCert": "/c/ca.pem"}, ["--ca-cert-file-path=/c/ca.pem", "b"]),
        (
            {
                "bucketName": "b",
                "region": "r",
                "endpointURL": "https://e",
                "usePathStyle": True,
                "backendType": "s3",
                "caCert": "/ca",
            },
            [
                "--region=r",
                "--endpoint=https://e",
                "--use-path-style=true",
                "--backend-type=s3",
                "--ca-cert-file-path=/ca",
                "b",
            ],
        ),
    ],
)
def test_bucket_args(bucket: dict[str, Any], want: list[str]) -> None:
    assert backup.bucket_args(BucketConfig.parse(bucket)) == want


@pytest.mark.parametrize(
    ("point", "want"),
    [
        ("2026-01-02T15:04:05Z", "20260102-150405"),
        ("2026-01-02T15:04:05.999Z", "20260102-150405"),
        ("2026-01-02T00:30:00+09:00", "20260101-153000"),
        ("2026-01-02T23:30:00-02:00", "20260103-013000"),
        ("2026-01-02T15:04:05", "20260102-150405"),
    ],
)
def test_restore_point_is_utc_seconds(point: str, want: str) -> None:
    assert backup.restore_point_arg(point) == want


def test_bad_restore_point_is_invalid_spec() -> None:
    with pytest.raises(InvalidSpec, match="restorePoint"):
        backup.restore_point_arg("yesterday")


@pytest.mark.parametrize(
    ("fields", "want"),
    [
        ({}, {}),
        ({"cpu": 4, "memory": "4Gi"}, {"requests": {"cpu": "4", "memory": "4Gi"}}),
        ({"maxCpu": "500m"}, {"limits": {"cpu": "500m"}}),
        (
            {"cpu": 1, "memory": "1Gi", "maxCpu": 2, "maxMemory": "2Gi"},
            {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
        ),
    ],
)
def test_resources(fields: dict[str, Any], want: dict[str, Any]) -> None:
    assert backup.resources(_jc(**fields)) == want


def _bare_cluster(**spec: Any) -> MySQLCluster:
    body: dict[str, Any] = {
        "replicas": 1,
        "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": "m"}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "mysql-data"}, "spec": {}}],
    }
    body.update(spec)
    return MySQLCluster.parse(
        {"metadata": {"name": "c", "namespace": "ns", "uid": UID}, "kind": "MySQLCluster", "spec": body}
    )


def _full_policy() -> BackupPolicy:
    return BackupPolicy.parse(
        {
            "kind": "BackupPolicy",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {
                "schedule": "*/5 * * * *",
                "timeZone": "Asia/Tokyo",
                "startingDeadlineSeconds": 60,
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 2,
                "failedJobsHistoryLimit": 5,
                "activeDeadlineSeconds": 3600,
                "backoffLimit": 1,
                "jobConfig": {
                    "serviceAccountName": "bsa",
                    "bucketConfig": {"bucketName": "bk", "region": "r1", "backendType": "gcs"},
                    "workVolume": {"ephemeral": {"volumeClaimTemplate": {"spec": {"resources": {}}}}},
                    "threads": 8,
                    "cpu": "2",
                    "memory": "3Gi",
                    "maxCpu": "4",
                    "maxMemory": "6Gi",
                    "env": [{"name": "A", "value": "1"}],
                    "envFrom": [{"secretRef": {"name": "creds"}}],
                    "affinity": {"nodeAffinity": {"x": 1}},
                    "volumes": [{"name": "ca", "secret": {"secretName": "ca"}}],
                    "volumeMounts": [{"name": "ca", "mountPath": "/ca"}],
                },
            },
        }
    )


def test_every_policy_field_reaches_the_cronjob() -> None:
    cron = backup.backup_cronjob(_bare_cluster(backupPolicyName="p"), _full_policy(), IMAGE)
    spec = cron["spec"]
    assert {k: spec[k] for k in spec if k != "jobTemplate"} == {
        "schedule": "*/5 * * * *",
        "timeZone": "Asia/Tokyo",
        "startingDeadlineSeconds": 60,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 2,
        "failedJobsHistoryLimit": 5,
    }
    job = spec["jobTemplate"]["spec"]
    assert (job["activeDeadlineSeconds"], job["backoffLimit"]) == (3600, 1)
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == "bsa"
    assert pod["restartPolicy"] == "Never"
    assert pod["affinity"] == {"nodeAffinity": {"x": 1}}
    assert pod["volumes"][0] == {
        "name": "work",
        "ephemeral": {"volumeClaimTemplate": {"spec": {"resources": {}}}},
    }
    assert pod["volumes"][1] == {"name": "ca", "secret": {"secretName": "ca"}}
    assert pod["securityContext"] == {
        "fsGroup": 10000,
        "fsGroupChangePolicy": "OnRootMismatch",
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    c = pod["containers"][0]
    assert c["image"] == IMAGE
    assert c["args"] == ["backup", "--threads=8", "--region=r1", "--backend-type=gcs", "bk", "ns", "c"]
    assert c["env"] == [
        {
            "name": "MYSQL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "moco-c", "key": "BACKUP_PASSWORD"}},
        },
        {"name": "A", "value": "1"},
    ]
    assert c["envFrom"] == [{"secretRef": {"name": "creds"}}]
    assert c["volumeMounts"] == [{"name": "work", "mountPath": "/work"}, {"name": "ca", "mountPath": "/ca"}]
    assert c["resources"] == {
        "requests": {"cpu": "2", "memory": "3Gi"},
        "limits": {"cpu": "4", "memory": "6Gi"},
    }
    assert c["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "runAsUser": 10000,
        "runAsGroup": 10000,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for labels in (cron["metadata"]["labels"], spec["jobTemplate"]["metadata"]["labels"]):
        assert labels == {
            constants.LABEL_APP_NAME: "mysql-backup",
            constants.LABEL_APP_INSTANCE: "c",
            constants.LABEL_APP_CREATED_BY: "moco",
        }
    assert cron["metadata"]["ownerReferences"][0]["uid"] == UID


def test_minimal_policy_leaves_optional_fields_out_and_spreads_pods() -> None:
    p = _full_policy().to_json()
    for k in ("timeZone", "startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        del p["spec"][k]
    for k in ("activeDeadlineSeconds", "backoffLimit", "concurrencyPolicy"):
        del p["spec"][k]
    del p["spec"]["jobConfig"]["affinity"]
    del p["spec"]["jobConfig"]["envFrom"]
    cron = backup.backup_cronjob(_bare_cluster(), BackupPolicy.parse(p), IMAGE)
    assert set(cron["spec"]) == {"schedule", "concurrencyPolicy", "jobTemplate"}
    assert cron["spec"]["concurrencyPolicy"] == "Allow"
    assert set(cron["spec"]["jobTemplate"]["spec"]) == {"template"}
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["affinity"] == backup.default_backup_affinity()
    assert "envFrom" not in pod["containers"][0]


def test_roles_grant_what_moco_grants() -> None:
    c = _bare_cluster()
    b, r = backup.backup_role(c), backup.restore_role(c)
    assert b["metadata"]["name"] == "moco-backup-c"
    assert r["metadata"]["name"] == "moco-restore-c"
    for role in (b, r):
        assert role["rules"][0] == {
            "apiGroups": ["moco.cybozu.com"],
            "resources": ["mysqlclusters", "mysqlclusters/status"],
            "verbs": ["get", "update"],
            "resourceNames": ["c"],
        }
    assert b["rules"][1]["verbs"] == ["get", "list", "watch"]
    assert r["rules"][1]["verbs"] == ["get"]
    rb = backup.role_binding(c, "moco-backup-c", "sa")
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "moco-backup-c"}
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]


def _restore_cluster(restored: str | None = None, cond: dict[str, Any] | None = None) -> MySQLCluster:
    c = _bare_cluster(
        restore={
            "sourceName": "src",
            "sourceNamespace": "sns",
            "restorePoint": "2026-01-02T15:04:05Z",
            "schema": "db1",
            "users": "u1,u2",
            "jobConfig": _jc(affinity={"podAffinity": {}}, cpu="1", memory="1Gi").to_json(),
        }
    ).to_json()
    status: dict[str, Any] = {"currentPrimaryIndex": 0}
    if restored:
        status["restoredTime"] = restored
    if cond:
        status["conditions"] = [{"lastTransitionTime": "2026-01-01T00:00:00Z", "status": "False", **cond}]
    c["status"] = status
    return MySQLCluster.parse(c)


def test_restore_job_args_and_affinity() -> None:
    job = backup.restore_job(_restore_cluster(), IMAGE)
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"][-5:] == ["ns", "c", "20260102-150405", "db1", "u1,u2"]
    assert pod["affinity"] == {"podAffinity": {}}
    with pytest.raises(InvalidSpec):
        backup.restore_job(_bare_cluster(), IMAGE)


def _job(*conds: tuple[str, str]) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": t, "status": s, "message": "boom"} for t, s in conds]}}


@pytest.mark.parametrize(
    ("job", "want"),
    [
        ({}, ("running", "")),
        (_job(("Failed", "False")), ("running", "")),
        (_job(("Failed", "True")), ("failed", "boom")),
        (_job(("Complete", "True")), ("succeeded", "")),
        (_job(("SuccessCriteriaMet", "True"), ("Complete", "True")), ("succeeded", "")),
    ],
)
def test_job_state(job: dict[str, Any], want: tuple[str, str]) -> None:
    assert backupjobs.job_state(job) == want


@pytest.mark.parametrize(
    ("restored", "old_reason", "job", "reason", "events"),
    [
        (None, None, None, backupjobs.REASON_RUNNING, []),
        (None, None, {}, backupjobs.REASON_RUNNING, []),
        (
            None,
            backupjobs.REASON_RUNNING,
            _job(("Failed", "True")),
            backupjobs.REASON_FAILED,
            ["RestoreFailed"],
        ),
        (None, backupjobs.REASON_FAILED, _job(("Failed", "True")), backupjobs.REASON_FAILED, []),
        (None, backupjobs.REASON_RUNNING, _job(("Complete", "True")), backupjobs.REASON_WAITING, []),
        # the Restored Event is the restore program's (as in MOCO)
        ("2026-01-02T16:00:00Z", backupjobs.REASON_WAITING, None, backupjobs.REASON_RESTORED, []),
        ("2026-01-02T16:00:00Z", backupjobs.REASON_RESTORED, None, backupjobs.REASON_RESTORED, []),
    ],
)
def test_restore_condition_and_its_events(
    restored: str | None, old_reason: str | None, job: dict[str, Any] | None, reason: str, events: list[str]
) -> None:
    cluster = _restore_cluster(
        restored, None if old_reason is None else {"type": "Restored", "reason": old_reason, "message": ""}
    )
    cond = backupjobs.restore_condition(cluster, job)
    assert cond is not None
    assert cond.reason == reason
    assert cond.status is (reason == backupjobs.REASON_RESTORED)
    assert [e[1] for e in backupjobs.transition_events(cluster, cond, job)] == events
    if reason == backupjobs.REASON_FAILED:
        assert "delete the Job" in cond.message
        assert "boom" in cond.message


def test_no_restore_no_condition() -> None:
    assert backupjobs.restore_condition(_bare_cluster(), None) is None


@pytest.mark.parametrize(
    ("moco_image", "want"),
    [
        ("localhost/moco/moco:src-abc", "localhost/moco/moco-backup:src-abc"),
        ("moco:latest", "moco-backup:latest"),
        ("registry:5000/team/moco:1.2", "registry:5000/team/moco-backup:1.2"),
        ("ghcr.io/x/moco@sha256:00", "ghcr.io/x/moco-backup"),
    ],
)
def test_default_backup_image(moco_image: str, want: str) -> None:
    assert default_backup_image(moco_image) == want


def test_the_backup_image_is_the_controllers_release_not_the_agents() -> None:
    assert Images(agent="localhost/moco/moco-agent:1.0.0").backup_image == BACKUP_IMAGE
    assert f"localhost/moco/moco-backup:{__version__}" == BACKUP_IMAGE
    assert Images(agent="a:1", backup="b:1").backup_image == "b:1"


def test_job_resources_can_be_left_out() -> None:
    cron = backup.backup_cronjob(_bare_cluster(), _full_policy(), IMAGE, job_resources=False)
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["resources"] == {}
    job = backup.restore_job(_restore_cluster(), IMAGE, job_resources=False)
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"] == {}
    with_res = backup.restore_job(_restore_cluster(), IMAGE)
    assert with_res["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"}
    }
