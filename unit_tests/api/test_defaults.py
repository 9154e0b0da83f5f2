"""Defaulting: the CRD's defaults in Python, and the controller's own."""

from __future__ import annotations

import random
from typing import Any

from moco.api import MySQLCluster, apply_schema_defaults, with_defaults
from moco.api.backuppolicy import BackupPolicy
from moco.api.defaults import SERVER_ID_BASE_MASK, backuppolicy_schema_defaulted, new_server_id_base
from moco.constants import FINALIZER


def _doc(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "MySQLCluster",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {
            "podTemplate": {
                "spec": {"containers": [{"name": "mysqld", "image": "m", "ports": [{"containerPort": 8000}]}]}
            },
            "volumeClaimTemplates": [
                {"metadata": {"name": "mysql-data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
            ],
            **spec,
        },
    }


def test_crd_defaults_are_applied() -> None:
    out = with_defaults(MySQLCluster.model_validate(_doc()), random.Random(0)).to_json()
    spec = out["spec"]
    assert spec["replicas"] == 1
    assert spec["maxDelaySeconds"] == 60
    assert spec["maxDelaySecondsForPodDeletion"] == 0
    assert spec["startupWaitSeconds"] == 3600
    assert spec["initializeTimezoneData"] is False
    # upstream defaults inside the embedded Pod spec
    assert spec["podTemplate"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert out["metadata"]["finalizers"] == [FINALIZER]
    assert 1 <= spec["serverIDBase"] <= SERVER_ID_BASE_MASK + 1


def test_user_values_win_and_defaulting_is_idempotent() -> None:
    c = MySQLCluster.model_validate(_doc(replicas=3, serverIDBase=10, maxDelaySeconds=0))
    once = with_defaults(c, random.Random(0))
    assert once.spec.replicas == 3
    assert once.spec.server_id_base == 10
    assert once.spec.max_delay_seconds == 0
    assert with_defaults(once, random.Random(1)) == once


def test_server_id_base_zero_is_replaced() -> None:
    c = with_defaults(MySQLCluster.model_validate(_doc(serverIDBase=0)), random.Random(3))
    assert c.spec.server_id_base == new_server_id_base(random.Random(3))
    assert c.spec.server_id_base


def test_null_in_non_nullable_defaulted_field_is_defaulted() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "default": 1},
            "b": {"type": "integer", "default": 2, "nullable": True},
            "m": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"x": {"default": "y"}}},
            },
        },
    }
    assert apply_schema_defaults({"a": None, "b": None, "m": {"k": {}}}, schema) == {
        "a": 1,
        "b": None,
        "m": {"k": {"x": "y"}},
    }


def test_backuppolicy_defaults() -> None:
    policy = BackupPolicy.model_validate(
        {
            "metadata": {"name": "p"},
            "spec": {
                "schedule": "@daily",
                "jobConfig": {
                    "serviceAccountName": "sa",
                    "bucketConfig": {"bucketName": "b"},
                    "workVolume": {"emptyDir": {}},
                },
            },
        }
    )
    out = backuppolicy_schema_defaulted(policy).to_json()["spec"]
    assert out["concurrencyPolicy"] == "Allow"
    assert out["jobConfig"]["threads"] == 4
    assert out["jobConfig"]["cpu"] == 4
    assert out["jobConfig"]["memory"] == "4Gi"
    assert out["jobConfig"]["bucketConfig"]["backendType"] == "s3"
