"""MOCO's moco_backup_* gauges from status.backup, and the Go durations they read."""

from __future__ import annotations

from typing import Any

import pytest

from moco.api import MySQLCluster
from moco.controllers import backupmetrics
from moco.kube.exposition import REGISTRY


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0.0),
        ("0", 0.0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        ("1m2.5s", 62.5),
        ("2h3m4s", 7384.0),
        ("1h0m0.001s", 3600.001),
        ("3us", 3e-6),
        ("-1s", -1.0),
    ],
)
def test_go_duration_seconds(text: str, seconds: float) -> None:
    assert backupmetrics.go_duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "1x", "s", "1s2", "one second"])
def test_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        backupmetrics.go_duration_seconds(text)


def _cluster(name: str, backup: dict[str, Any] | None) -> MySQLCluster:
    status: dict[str, Any] = {"currentPrimaryIndex": 0}
    if backup is not None:
        status["backup"] = backup
    return MySQLCluster.parse(
        {
            "kind": "MySQLCluster",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {
                "replicas": 1,
                "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": "m"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "mysql-data"}, "spec": {}}],
            },
            "status": status,
        }
    )


def _value(metric: str, name: str) -> float | None:
    return REGISTRY.sample_value(metric, {"name": name, "namespace": "ns"})


def test_observe_and_forget() -> None:
    backup = {
        "time": "2026-12-01T01:02:03Z",
        "elapsed": "1m30s",
        "sourceIndex": 1,
        "sourceUUID": "u",
        "binlogFilename": "binlog.000002",
        "gtidSet": "u:1-10",
        "dumpSize": 1000,
        "binlogSize": 200,
        "workDirUsage": 5000,
        "warnings": ["a", "b"],
    }
    backupmetrics.observe(_cluster("m1", backup))
    assert _value("moco_backup_timestamp", "m1") == 1796086923.0
    assert _value("moco_backup_elapsed_seconds", "m1") == 90.0
    assert _value("moco_backup_dump_bytes", "m1") == 1000
    assert _value("moco_backup_binlog_bytes", "m1") == 200
    assert _value("moco_backup_workdir_usage_bytes", "m1") == 5000
    assert _value("moco_backup_warnings", "m1") == 2
    backupmetrics.forget("ns", "m1")
    assert _value("moco_backup_timestamp", "m1") is None
    backupmetrics.forget("ns", "m1")  # twice: nothing to remove


def test_no_backup_no_series() -> None:
    backupmetrics.observe(_cluster("m2", None))
    assert _value("moco_backup_timestamp", "m2") is None
