"""Random valid objects survive a round trip through a real kube-apiserver unchanged.

The objects are drawn from the generated CRD schema itself (every property of moco's own
fields, at every depth, with its type, enum, bounds and format; optional properties present or
not; nullable ones sometimes ``null``), so a field the schema would prune, a bound the model
does not share or a default the Python side does not predict shows up as a difference. What a
CEL rule constrains beyond the schema (odd replicas, cron syntax, the ``mysqld`` container)
and the embedded Kubernetes types (Pod, claim and Service specs: upstream's schema, covered by
the examples) are drawn from small valid sets.

Checked for each object: the model parses it; the apiserver stores exactly the object with the
CRD defaults applied (:func:`moco.api.defaults.apply_schema_defaults`); the status written
through the status subresource reads back unchanged.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moco.api import BackupPolicy, MySQLCluster
from moco.api.defaults import apply_schema_defaults
from moco.api.schema import Schema, backuppolicy_schema, mysqlcluster_schema
from moco.constants import GROUP, VERSION
from moco.kube.client import Client
from moco.kube.resource import Resource

pytestmark = pytest.mark.apiserver

MYSQLCLUSTERS = Resource(GROUP, VERSION, "mysqlclusters", "MySQLCluster")
BACKUPPOLICIES = Resource(GROUP, VERSION, "backuppolicies", "BackupPolicy")
STRICT = {"fieldValidation": "Strict"}

CLUSTER_SCHEMA = mysqlcluster_schema()
POLICY_SCHEMA = backuppolicy_schema()

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_KEYS = st.text(alphabet=string.ascii_letters + string.digits + "-._/", min_size=1, max_size=20)
_TIMES = st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1)).map(
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
)
_QUANTITIES = st.sampled_from(["1", "500m", "2", "1Gi", "512Mi", "4Gi", 3, "1.5"])
_CRONS = st.sampled_from(["@daily", "@every 1h", "*/5 * * * *", "0 3 * * MON-FRI", "TZ=Asia/Tokyo 0 0 1 * *"])

_MYSQLD = {"name": "mysqld", "image": "mysql"}
_CLAIM = {"metadata": {"name": "mysql-data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}

#: Embedded Kubernetes types and CEL-constrained values, by path under the root.
_FIXED: dict[str, st.SearchStrategy[Any]] = {
    "spec.podTemplate.spec": st.sampled_from(
        [
            {"containers": [_MYSQLD]},
            {"containers": [_MYSQLD], "terminationGracePeriodSeconds": 30},
            {"containers": [{**_MYSQLD, "resources": {"requests": {"memory": "1Gi"}}}]},
        ]
    ),
    "spec.podTemplate.overwriteContainers[].resources": st.sampled_from(
        [{}, {"limits": {"cpu": "1"}}, {"requests": {"memory": "100Mi"}}]
    ),
    "spec.podTemplate.overwriteContainers[].securityContext": st.sampled_from([{}, {"runAsUser": 10000}]),
    "spec.volumeClaimTemplates": st.sampled_from(
        [
            [_CLAIM],
            [_CLAIM, {"metadata": {"name": "logs"}, "spec": {"resources": {"requests": {"storage": 5}}}}],
        ]
    ),
    "spec.primaryServiceTemplate.spec": st.sampled_from([{}, {"type": "ClusterIP"}]),
    "spec.replicaServiceTemplate.spec": st.sampled_from([{}, {"type": "NodePort"}]),
    "spec.replicas": st.sampled_from([1, 3, 5, 7, 15]),
    "spec.logRotationSchedule": _CRONS,
    "spec.schedule": _CRONS,
    "spec.restore.jobConfig.workVolume": st.sampled_from(
        [{"emptyDir": {}}, {"emptyDir": {"medium": "Memory"}}]
    ),
    "spec.jobConfig.workVolume": st.sampled_from([{"emptyDir": {}}]),
    "jobConfig.env[]": st.sampled_from([{"name": "A", "value": "b"}, {"name": "AWS_REGION", "value": "x"}]),
    "jobConfig.envFrom[]": st.sampled_from([{"secretRef": {"name": "s"}}]),
    "jobConfig.volumes[]": st.sampled_from([{"name": "v", "emptyDir": {}}]),
    "jobConfig.volumeMounts[]": st.sampled_from([{"name": "v", "mountPath": "/v"}]),
    "jobConfig.affinity": st.sampled_from([{}, {"nodeAffinity": {}}]),
    "jobConfig.bucketConfig.endpointURL": _TEXT.map(lambda t: "https://" + t),
    "status.conditions": st.sampled_from(
        [
            [],
            [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "Ok",
                    "message": "",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        ]
    ),
}


def _fixed(path: str) -> st.SearchStrategy[Any] | None:
    for suffix, strategy in _FIXED.items():
        if path == suffix or path.endswith("." + suffix):
            return strategy
    return None


def _int(node: Schema) -> st.SearchStrategy[int]:
    wide = 2**63 - 1 if node.get("format") == "int64" else 2**31 - 1
    return st.integers(min_value=node.get("minimum", -wide), max_value=node.get("maximum", wide))


def from_schema(node: Schema, path: str) -> st.SearchStrategy[Any]:
    """Values the schema node accepts (for moco's own fields; see the module docstring)."""
    fixed = _fixed(path)
    if fixed is not None:
        value: st.SearchStrategy[Any] = fixed
    elif "enum" in node:
        value = st.sampled_from(node["enum"])
    elif node.get("x-kubernetes-int-or-string"):
        value = _QUANTITIES
    elif node["type"] == "integer":
        value = _int(node)
    elif node["type"] == "boolean":
        value = st.booleans()
    elif node["type"] == "string":
        assert "pattern" not in node, f"{path}: give a pattern-shaped strategy in _FIXED"
        if node.get("format") == "date-time":
            value = _TIMES
        else:
            value = st.text(
                alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
                min_size=node.get("minLength", 0),
                max_size=min(node.get("maxLength", 12), 12),
            )
    elif node["type"] == "array":
        value = st.lists(
            from_schema(node["items"], path + "[]"),
            min_size=node.get("minItems", 0),
            max_size=min(node.get("maxItems", 3), 3),
        )
    elif "properties" in node:
        required = set(node.get("required", ()))
        value = st.fixed_dictionaries(
            {k: from_schema(v, f"{path}.{k}") for k, v in node["properties"].items() if k in required},
            optional={
                k: from_schema(v, f"{path}.{k}") for k, v in node["properties"].items() if k not in required
            },
        )
    else:
        value = st.dictionaries(
            _KEYS,
            from_schema(node["additionalProperties"], path + "{}"),
            max_size=min(node.get("maxProperties", 3), 3),
        )
    if node.get("nullable"):
        value = st.one_of(st.none(), value)
    return value


_CLUSTER_SPEC = from_schema(CLUSTER_SCHEMA["properties"]["spec"], "spec")
_CLUSTER_STATUS = from_schema(CLUSTER_SCHEMA["properties"]["status"], "status")
_POLICY_SPEC = from_schema(POLICY_SCHEMA["properties"]["spec"], "spec")
_names = itertools.count()


def _stored(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k in ("spec", "status")}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(spec=_CLUSTER_SPEC, status=_CLUSTER_STATUS)
async def test_random_mysqlcluster_round_trips(
    kube: Client, namespace: str, spec: dict[str, Any], status: dict[str, Any]
) -> None:
    doc = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MySQLCluster",
        "metadata": {"name": f"r{next(_names)}", "namespace": namespace},
        "spec": spec,
    }
    MySQLCluster.model_validate(doc)  # the model accepts what the schema accepts
    stored = await kube.create(MYSQLCLUSTERS, copy.deepcopy(doc), query=STRICT)
    assert stored["spec"] == apply_schema_defaults(doc, CLUSTER_SCHEMA)["spec"]
    MySQLCluster.model_validate({**doc, "status": status})
    stored["status"] = status
    written = await kube.update_status(MYSQLCLUSTERS, stored)
    assert written["status"] == apply_schema_defaults({"status": status}, CLUSTER_SCHEMA)["status"]
    assert written["spec"] == stored["spec"]
    await kube.delete(MYSQLCLUSTERS, doc["metadata"]["name"], namespace)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(spec=_POLICY_SPEC)
async def test_random_backuppolicy_round_trips(kube: Client, namespace: str, spec: dict[str, Any]) -> None:
    doc = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BackupPolicy",
        "metadata": {"name": f"p{next(_names)}", "namespace": namespace},
        "spec": spec,
    }
    BackupPolicy.model_validate(doc)
    stored = await kube.create(BACKUPPOLICIES, copy.deepcopy(doc), query=STRICT)
    assert stored["spec"] == apply_schema_defaults(doc, POLICY_SCHEMA)["spec"]
    await kube.delete(BACKUPPOLICIES, doc["metadata"]["name"], namespace)


def test_the_strategies_reach_every_field_of_the_schema() -> None:
    """Every property of moco's own schema is drawn (no field silently left out of the test)."""
    seen: set[str] = set()

    def paths(node: Schema, path: str) -> None:
        if _fixed(path) is not None:
            return
        seen.add(path)
        for k, v in node.get("properties", {}).items():
            paths(v, f"{path}.{k}")
        if isinstance(node.get("items"), dict):
            paths(node["items"], path + "[]")
        if isinstance(node.get("additionalProperties"), dict):
            paths(node["additionalProperties"], path + "{}")

    paths(CLUSTER_SCHEMA["properties"]["spec"], "spec")
    assert "spec.restore.jobConfig.bucketConfig.bucketName" in seen
    assert "spec.podTemplate.metadata.labels{}" in seen
    assert "spec.collectors[]" in seen
