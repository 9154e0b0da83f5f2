"""The archiver's rendering (pure), rule by rule of :mod:`moco.controllers.backuparchive`."""

from __future__ import annotations

from typing import Any

import pytest

from moco.api import BackupPolicy, MySQLCluster
from moco.controllers.backuparchive import (
    ANN_BINLOG_ARCHIVE,
    ARCHIVER_REQUESTS,
    archiver_deployment,
    wants_archiver,
)
from unit_tests.controllers.harness import cluster_manifest


def _policy(annotations: dict[str, str] | None = None, **jc: Any) -> BackupPolicy:
    meta: dict[str, Any] = {"name": "daily", "namespace": "ns"}
    if annotations is not None:
        meta["annotations"] = annotations
    job_config = {
        "serviceAccountName": "sa",
        "bucketConfig": {"bucketName": "b"},
        "workVolume": {"persistentVolumeClaim": {"claimName": "big"}},
        **jc,
    }
    return BackupPolicy.parse(
        {
            "apiVersion": "moco.cybozu.com/v1beta2",
            "kind": "BackupPolicy",
            "metadata": meta,
            "spec": {"schedule": "@daily", "jobConfig": job_config},
        }
    )


@pytest.mark.parametrize(
    ("annotations", "want"),
    [
        (None, False),  # MOCO's policy: off
        ({}, False),
        ({ANN_BINLOG_ARCHIVE: "true"}, True),
        ({ANN_BINLOG_ARCHIVE: " True "}, True),
        ({ANN_BINLOG_ARCHIVE: "false"}, False),
        ({ANN_BINLOG_ARCHIVE: "yes"}, False),  # only "true" turns it on
        ({ANN_BINLOG_ARCHIVE: ""}, False),
        ({"moco.cybozu.com/binlog-archives": "true"}, False),
    ],
)
def test_rule1_opt_in_by_the_policys_annotation(annotations: dict[str, str] | None, want: bool) -> None:
    assert wants_archiver(_policy(annotations)) is want


def test_rule1_no_policy_no_archiver() -> None:
    assert wants_archiver(None) is False


def test_rule3_one_follower_never_two() -> None:
    dep = archiver_deployment(MySQLCluster.parse(cluster_manifest("ns")), _policy(), "img")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert dep["metadata"]["name"] == "moco-binlog-archive-test"


def test_rule5_own_work_volume_and_resources() -> None:
    cluster = MySQLCluster.parse(cluster_manifest("ns"))
    dep = archiver_deployment(cluster, _policy(cpu="4", memory="8Gi", maxMemory="1Gi"), "img")
    pod = dep["spec"]["template"]["spec"]
    assert pod["volumes"][0] == {"name": "work", "emptyDir": {}}  # not the policy's claim
    assert pod["containers"][0]["resources"] == {"requests": ARCHIVER_REQUESTS, "limits": {"memory": "1Gi"}}
    bare = archiver_deployment(cluster, _policy(maxMemory="1Gi"), "img", job_resources=False)
    assert bare["spec"]["template"]["spec"]["containers"][0]["resources"] == {}


def test_rule4_labels_are_not_the_backup_jobs() -> None:
    dep = archiver_deployment(MySQLCluster.parse(cluster_manifest("ns")), _policy(), "img")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "mysql-binlog-archive"
    assert labels["app.kubernetes.io/instance"] == "test"
    assert dep["spec"]["selector"]["matchLabels"] == labels
