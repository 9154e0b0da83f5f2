"""The CRD schemas, generated from the models: pydantic's JSON schema made structural.

The models of :mod:`moco.api.mysqlcluster`, :mod:`moco.api.backuppolicy` and :mod:`moco.api.job`
are the one source of the CRDs. A field added to a model is in the CRD at the next ``make crds``
(a unit test walks both and fails on a field in one but not the other), so the apiserver never
silently prunes a field the operator reads.

From pydantic's JSON schema (``by_alias``, validation mode) to a Kubernetes structural schema:

* ``$ref`` inlined; ``anyOf [X, null]`` (``Optional``) becomes ``X``: absent means unset, as
  in MOCO, and ``nullable: true`` only where :func:`moco.api.marks.crd` says so;
* ``required`` is pydantic's (fields without a default) plus what ``crd(required=...)`` adds;
* pydantic's ``title``, ``default`` (``None``) and ``additionalProperties: false`` dropped; the
  CRD default comes from ``crd(default=...)``;
* constraints kept: ``minimum``/``maximum``, ``minLength``/``maxLength``, ``minItems``/
  ``maxItems``, ``maxProperties``, ``pattern``, ``enum`` (``Literal``), ``format``
  (``crd(format=...)``: int32, int64, date-time); descriptions kept (field, else class docstring);
* a node marked ``crd(kubernetes=NAME)`` is the upstream definition (Kubernetes v1.35.4, see
  :class:`moco.api.openapi.Converter`), described by the field; ``overlay`` and
  ``validations`` add moco's bounds and CEL rules inside it (:mod:`moco.api.rules`).

The CEL rules sit beside the fields they guard (in the models, from :mod:`moco.api.rules`);
the bounds are in :mod:`moco.api.bounds`; the CRD defaults are constants beside the models
(``DEFAULT_REPLICAS`` ... in :mod:`moco.api.mysqlcluster`, re-exported here). Deterministic: the
same models give the same schema. :mod:`moco.api.crdgen` writes the CRDs around these schemas.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel

from moco.api.backuppolicy import BackupPolicy
from moco.api.errors import SchemaError
from moco.api.marks import KEY
from moco.api.mysqlcluster import (
    DEFAULT_MAX_DELAY_SECONDS,
    DEFAULT_MAX_DELAY_SECONDS_FOR_POD_DELETION,
    DEFAULT_REPLICAS,
    DEFAULT_STARTUP_WAIT_SECONDS,
    MySQLCluster,
)
from moco.api.openapi import Converter

Schema = dict[str, Any]

__all__ = [
    "DEFAULT_MAX_DELAY_SECONDS",
    "DEFAULT_MAX_DELAY_SECONDS_FOR_POD_DELETION",
    "DEFAULT_REPLICAS",
    "DEFAULT_STARTUP_WAIT_SECONDS",
    "Schema",
    "backuppolicy_schema",
    "mysqlcluster_schema",
    "structural",
]

#: JSON-schema keys carried over unchanged.
_KEPT: Final = (
    "type",
    "format",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
)


def merge(node: Schema, overlay: Mapping[str, Any]) -> None:
    """Merge ``overlay`` into ``node`` in place: dicts deep, lists appended, other values replaced."""
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(node.get(key), dict):
            merge(node[key], value)
        elif isinstance(value, list) and isinstance(node.get(key), list):
            node[key].extend(copy.deepcopy(value))
        else:
            node[key] = copy.deepcopy(value)


def _unwrap(docstring: str) -> str:
    """A class docstring as a description: wrapped lines joined, paragraphs kept."""
    return "\n\n".join(" ".join(p.split()) for p in docstring.split("\n\n"))


class _Builder:
    def __init__(self, defs: Mapping[str, Any], conv: Converter) -> None:
        self._defs = defs
        self._conv = conv

    def node(self, raw: Mapping[str, Any], path: str) -> Schema:
        """The structural schema of one JSON-schema node."""
        raw, field_description = self._flatten(raw, path)
        facts: dict[str, Any] = dict(raw.get(KEY) or {})
        if "schema" in facts:
            out: Schema = copy.deepcopy(facts["schema"])
        elif "kubernetes" in facts:
            out = self._conv.definition(facts["kubernetes"])
            if field_description:
                out["description"] = field_description
            for name in facts.get("without", ()):
                out.get("properties", {}).pop(name, None)
                if name in out.get("required", []):
                    out["required"].remove(name)
                    if not out["required"]:
                        del out["required"]
        else:
            if "items_kubernetes" in facts:
                raw = {k: v for k, v in raw.items() if k != "items"}
            out = self._plain(raw, path)
        self._apply(out, facts)
        return out

    def _flatten(self, raw: Mapping[str, Any], path: str) -> tuple[dict[str, Any], str | None]:
        """Resolve ``$ref`` and ``Optional``'s ``anyOf``; return the node and the description its
        field gives (as opposed to the class docstring of a referenced model)."""
        node = dict(raw)
        field_description = node.get("description")
        facts: dict[str, Any] = dict(node.get(KEY) or {})
        if "anyOf" in node:
            members = [m for m in node.pop("anyOf") if m != {"type": "null"}]
            if len(members) != 1:
                if "kubernetes" in facts or "schema" in facts:
                    return node, field_description
                raise SchemaError(f"{path}: a union of {len(members)} types needs crd(kubernetes=...)")
            inner = dict(members[0])
            node = {**inner, **node}
        if "$ref" in node:
            target = dict(self._defs[node.pop("$ref").rsplit("/", 1)[-1]])
            target_facts: dict[str, Any] = dict(target.get(KEY) or {})
            node = {**target, **node}
            node.pop("description", None)
            if field_description:
                node["description"] = field_description
            elif "description" in target and "kubernetes" not in target_facts:
                node["description"] = _unwrap(target["description"])
            merged = {**target_facts, **facts}
            if merged:
                node[KEY] = merged
        return node, field_description

    def _plain(self, raw: Mapping[str, Any], path: str) -> Schema:
        out: Schema = {k: copy.deepcopy(raw[k]) for k in _KEPT if k in raw}
        if "description" in raw:
            out["description"] = raw["description"]
        if "const" in raw:
            out["enum"] = [raw["const"]]
        if "type" not in out:
            raise SchemaError(f"{path}: no type in {sorted(raw)}")
        props = raw.get("properties")
        if props is not None:
            out["properties"] = {name: self.node(p, f"{path}.{name}") for name, p in sorted(props.items())}
            required = set(raw.get("required", ()))
            for name, p in props.items():
                if (p.get(KEY) or {}).get("required") is True:
                    required.add(name)
            model_required = (raw.get(KEY) or {}).get("required")
            if model_required is True:
                required |= set(props)
            elif isinstance(model_required, list):
                required |= set(model_required)
            if required:
                out["required"] = sorted(required)
        if isinstance(raw.get("items"), Mapping):
            out["items"] = self.node(raw["items"], path + "[]")
        extra = raw.get("additionalProperties")
        if isinstance(extra, Mapping) and extra:
            out["additionalProperties"] = self.node(extra, path + "{}")
        elif out["type"] == "object" and props is None and extra is not False:
            raise SchemaError(f"{path}: an object of any shape needs crd(kubernetes=...) or crd(schema=...)")
        return out

    def _apply(self, out: Schema, facts: Mapping[str, Any]) -> None:
        if "items_kubernetes" in facts:
            out["items"] = self._conv.definition(facts["items_kubernetes"])
        if "format" in facts:
            out["format"] = facts["format"]
        if "default" in facts:
            out["default"] = copy.deepcopy(facts["default"])
        if facts.get("nullable"):
            out["nullable"] = True
        if "overlay" in facts:
            merge(out, facts["overlay"])
        if facts.get("validations"):
            out.setdefault("x-kubernetes-validations", []).extend(copy.deepcopy(facts["validations"]))


def structural(model: type[BaseModel], conv: Converter | None = None) -> Schema:
    """The structural ``openAPIV3Schema`` of ``model`` (a fresh object)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    builder = _Builder(raw.get("$defs", {}), conv or Converter())
    root = {k: v for k, v in raw.items() if k != "$defs"}
    if "description" in root:
        root["description"] = _unwrap(root["description"])
    out = builder.node(root, model.__name__)
    _check(out, model.__name__)
    return out


def _check(node: Any, path: str) -> None:
    """No key of pydantic's is left that a CRD would refuse or misread."""
    if isinstance(node, dict):
        if KEY in node or "$ref" in node or "const" in node or "title" in node:
            raise SchemaError(f"{path}: left over {sorted(node)}")
        for k, v in node.items():
            _check(v, f"{path}.{k}")
    elif isinstance(node, list):
        for v in node:
            _check(v, path)


def mysqlcluster_schema(conv: Converter | None = None) -> Schema:
    """The ``openAPIV3Schema`` of MySQLCluster."""
    return structural(MySQLCluster, conv)


def backuppolicy_schema(conv: Converter | None = None) -> Schema:
    """The ``openAPIV3Schema`` of BackupPolicy."""
    return structural(BackupPolicy, conv)
