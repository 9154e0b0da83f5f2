"""The models and the generated CRDs hold the same fields, at every depth, with the same bounds.

The CRD schema is generated from the models (:mod:`moco.api.schema`); this walks both ways:
every model field is a property of the CRD schema (else the apiserver would prune it), every
property of moco's own schema is a model field (else the operator could not read it), required
fields agree, and each ``Field`` constraint is the schema's. The walk stops at embedded
Kubernetes types (their schema is upstream's). A deliberately broken schema shows the walk fails.
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any

import annotated_types as at
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from moco.api import crdgen
from moco.api.backuppolicy import BackupPolicy
from moco.api.marks import KEY
from moco.api.mysqlcluster import MySQLCluster

Schema = dict[str, Any]


def _facts(extra: Any) -> dict[str, Any]:
    return dict(extra.get(KEY) or {}) if isinstance(extra, dict) else {}


def _field_facts(info: FieldInfo) -> dict[str, Any]:
    return _facts(info.json_schema_extra)


def _model_facts(model: type[BaseModel]) -> dict[str, Any]:
    return _facts(model.model_config.get("json_schema_extra"))


def _strip(tp: Any) -> Any:
    """``X`` of ``X | None`` and ``Annotated[X, ...]``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _bounds(info: FieldInfo, node: Schema, path: str, problems: list[str]) -> None:
    """Each ``Field`` constraint appears in the schema node under its OpenAPI name."""
    kind = node.get("type")
    for m in info.metadata:
        if isinstance(m, at.Ge):
            want = ("minimum", m.ge)
        elif isinstance(m, at.Le):
            want = ("maximum", m.le)
        elif isinstance(m, at.MaxLen):
            key = {"array": "maxItems", "object": "maxProperties"}.get(str(kind), "maxLength")
            want = (key, m.max_length)
        elif isinstance(m, at.MinLen):
            key = {"array": "minItems", "object": "minProperties"}.get(str(kind), "minLength")
            want = (key, m.min_length)
        else:
            continue
        if node.get(want[0]) != want[1]:
            problems.append(f"{path}: model says {want[0]}={want[1]}, schema has {node.get(want[0])}")


def walk(model: type[BaseModel], schema: Schema, path: str, problems: list[str]) -> None:
    """Compare ``model`` with its schema node; append each disagreement to ``problems``."""
    props: Schema = schema.get("properties", {})
    aliases = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        aliases[alias] = info
        here = f"{path}.{alias}"
        if alias not in props:
            problems.append(f"{here}: a model field missing from the CRD schema (the apiserver prunes it)")
            continue
        node = props[alias]
        if info.is_required() and alias not in schema.get("required", []):
            problems.append(f"{here}: required by the model, optional in the CRD")
        _bounds(info, node, here, problems)
        facts = _field_facts(info)
        if {"kubernetes", "schema"} & set(facts):
            continue  # upstream's schema (or a verbatim one): not ours to walk
        tp = _strip(info.annotation)
        origin = typing.get_origin(tp)
        if origin is list:
            if "items_kubernetes" in facts:
                continue
            tp, node, here = _strip(typing.get_args(tp)[0]), node.get("items", {}), here + "[]"
        elif origin is dict:
            tp, node, here = (
                _strip(typing.get_args(tp)[1]),
                node.get("additionalProperties", {}),
                here + "{}",
            )
        if _is_model(tp):
            if "kubernetes" in _model_facts(tp):
                continue
            walk(tp, node, here, problems)
        elif props[alias].get("type") == "object" and "properties" in node:
            problems.append(f"{here}: the CRD has properties under a field the model holds as {tp}")
    for alias in props:
        if alias not in aliases:
            problems.append(f"{path}.{alias}: in the CRD schema but no model field reads it")


def _crd_schema(crd: Schema) -> Schema:
    schema: Schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


ROOTS = {
    "MySQLCluster": (MySQLCluster, crdgen.mysqlcluster_crd),
    "BackupPolicy": (BackupPolicy, crdgen.backuppolicy_crd),
}


@pytest.mark.parametrize("kind", sorted(ROOTS))
def test_every_model_field_is_in_the_crd_and_back(kind: str) -> None:
    model, make = ROOTS[kind]
    problems: list[str] = []
    walk(model, _crd_schema(make()), kind, problems)
    assert not problems, "\n".join(problems)


def _count_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> int:
    n = 0
    for info in model.model_fields.values():
        n += 1
        tp = _strip(info.annotation)
        if typing.get_origin(tp) in (list, dict):
            tp = _strip(typing.get_args(tp)[-1])
        if _is_model(tp) and tp not in seen:
            seen.add(tp)
            n += _count_fields(tp, seen)
    return n


def test_the_walk_reaches_every_depth() -> None:
    # MySQLCluster -> spec -> restore -> jobConfig -> bucketConfig -> bucketName is 5 levels down
    assert _count_fields(MySQLCluster, set()) > 70
    problems: list[str] = []
    schema = copy.deepcopy(_crd_schema(crdgen.mysqlcluster_crd()))
    restore = schema["properties"]["spec"]["properties"]["restore"]
    del restore["properties"]["jobConfig"]["properties"]["bucketConfig"]["properties"]["region"]
    restore["properties"]["jobConfig"]["properties"]["bucketConfig"]["properties"]["stray"] = {
        "type": "string"
    }
    schema["properties"]["spec"]["properties"]["replicas"]["maximum"] = 99
    schema["properties"]["spec"]["required"].remove("podTemplate")
    walk(MySQLCluster, schema, "MySQLCluster", problems)
    text = "\n".join(problems)
    assert "MySQLCluster.spec.restore.jobConfig.bucketConfig.region: a model field missing" in text
    assert "MySQLCluster.spec.restore.jobConfig.bucketConfig.stray: in the CRD schema but no model" in text
    assert "MySQLCluster.spec.replicas: model says maximum=15, schema has 99" in text
    assert "MySQLCluster.spec.podTemplate: required by the model" in text
    assert len(problems) == 4, text


def test_embedded_kubernetes_types_are_upstream() -> None:
    spec = _crd_schema(crdgen.mysqlcluster_crd())["properties"]["spec"]["properties"]
    pod = spec["podTemplate"]["properties"]["spec"]
    assert "containers" in pod["properties"]
    assert "affinity" in pod["properties"]
    # moco's bounds and rules are laid over the upstream schema, not instead of it
    containers = pod["properties"]["containers"]
    assert containers["maxItems"] == 64
    assert containers["items"]["properties"]["name"]["maxLength"] == 63
    assert any("mysqld" in r["rule"] for r in containers["x-kubernetes-validations"])
    assert "image" in containers["items"]["properties"]
