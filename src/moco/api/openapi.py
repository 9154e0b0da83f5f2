"""Kubernetes OpenAPI definitions turned into CRD structural schemas.

Two jobs, one module:

* **extraction** (:func:`extract`; ``python -m moco.api.extract K8S_MODULE_ROOT``): reads the
  OpenAPI v3 document of the ``k8s.io/kubernetes`` Go module (``api/openapi-spec/v3/api__v1_openapi.json``),
  keeps the definitions reachable from :data:`ROOTS` and writes them, with the source version and
  path, to the checked-in ``openapi/k8s-<version>.json``. The unit tier and the CRD generator read
  only that file, so no machine needs Go to build the CRDs; re-running the command on the same
  source reproduces the file byte for byte.
* **conversion** (:class:`Converter`): inlines a definition into the structural schema a
  CustomResourceDefinition accepts, the way controller-gen renders Kubernetes types:
  ``$ref``/``allOf`` inlined, ``IntOrString`` as ``x-kubernetes-int-or-string``, ``Quantity`` as
  int-or-string with controller-gen's pattern, list and map markers kept, OpenAPI-only keys
  (patch strategy, unions) dropped, and embedded ``ObjectMeta`` reduced to the fields the
  apiserver keeps for embedded objects.

Invariants: conversion is pure and deterministic (same definitions in, same schema out); the
output never contains ``$ref``, ``allOf`` or ``oneOf``; every node has a ``type`` or is
int-or-string; a ``x-kubernetes-list-type: map`` key is always required or defaulted (the
apiserver rejects the CRD otherwise).

Defaults: openapi-gen writes the zero value (``""``, ``0``, ``{}``) as a default for every
non-pointer field; only explicit ``+default`` markers carry meaning (``protocol: TCP``). We keep
non-zero defaults, and a zero default only where a list-map key needs one (as controller-gen,
whose ``+kubebuilder:default`` markers on such keys give the same result).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

from moco.api.errors import SchemaError

KUBERNETES_VERSION: Final = "v1.35.4"
#: Where the extraction reads from, relative to the k8s.io/kubernetes module root.
SOURCE_FILE: Final = "api/openapi-spec/v3/api__v1_openapi.json"
#: The checked-in trimmed copy.
DATA_FILE: Final = Path(__file__).parent / "openapi" / f"k8s-{KUBERNETES_VERSION}.json"

#: Prefixes of the definitions of the core/v1 and meta/v1 types.
CORE: Final = "io.k8s.api.core.v1."
META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1."
_CORE = CORE
_META = META
QUANTITY: Final = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING: Final = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
OBJECT_META: Final = _META + "ObjectMeta"

#: The definitions MOCO's API embeds; extraction keeps these and everything they reference.
ROOTS: Final = tuple(
    [
        _CORE + n
        for n in (
            "PodSpec",
            "PersistentVolumeClaimSpec",
            "ServiceSpec",
            "Volume",
            "VolumeMount",
            "EnvVar",
            "EnvFromSource",
            "Affinity",
            "ResourceRequirements",
            "SecurityContext",
        )
    ]
    + [_META + "Condition"]
)

#: controller-gen's pattern for resource.Quantity.
QUANTITY_PATTERN: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?"
    r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

# Keys a CRD schema accepts that we carry over from the upstream definitions.
_KEPT = (
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
)
_ZERO: Final[tuple[Any, ...]] = ({}, [], "", 0, False)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.add(_ref_name(v))
            else:
                _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def closure(definitions: Mapping[str, Any], roots: tuple[str, ...] = ROOTS) -> dict[str, Any]:
    """The definitions reachable from ``roots``, sorted by name."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in definitions:
            raise SchemaError(f"definition {name} is not in the OpenAPI document")
        seen.add(name)
        found: set[str] = set()
        _refs(definitions[name], found)
        todo.extend(found - seen)
    return {n: definitions[n] for n in sorted(seen)}


def extract(module_root: Path) -> dict[str, Any]:
    """The trimmed document written to :data:`DATA_FILE`."""
    src = module_root / SOURCE_FILE
    doc = json.loads(src.read_text())
    return {
        "source": f"k8s.io/kubernetes@{KUBERNETES_VERSION}/{SOURCE_FILE}",
        "kubernetesVersion": KUBERNETES_VERSION,
        "roots": list(ROOTS),
        "definitions": closure(doc["components"]["schemas"]),
    }


def dump(doc: Mapping[str, Any]) -> str:
    """The canonical text of a trimmed document (stable key order, one trailing newline)."""
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@cache
def load_definitions() -> Mapping[str, Any]:
    """The checked-in definitions (read once per process)."""
    doc = json.loads(DATA_FILE.read_text())
    if doc.get("kubernetesVersion") != KUBERNETES_VERSION:
        raise SchemaError(f"{DATA_FILE} holds {doc.get('kubernetesVersion')}, expected {KUBERNETES_VERSION}")
    defs: Mapping[str, Any] = doc["definitions"]
    return defs


def embedded_object_meta(descriptions: bool) -> dict[str, Any]:
    """The ``metadata`` the apiserver keeps for an embedded object (controller-gen's
    ``generateEmbeddedObjectMeta``): name, namespace, labels, annotations, finalizers."""
    smap = {"type": "object", "additionalProperties": {"type": "string"}}
    meta: dict[str, Any] = {
        "type": "object",
        "properties": {
            "annotations": dict(smap),
            "finalizers": {"type": "array", "items": {"type": "string"}},
            "labels": dict(smap),
            "name": {"type": "string"},
            "namespace": {"type": "string"},
        },
    }
    if descriptions:
        meta["description"] = "Standard object's metadata (only name, namespace, labels, annotations)."
    return meta


class Converter:
    """Inlines OpenAPI definitions into CRD structural schemas.

    ``descriptions=False`` drops every ``description`` of the embedded Kubernetes types (the
    CRD generator keeps them; see :mod:`moco.api.crdgen`). Bounds for CEL costs (``maxItems``,
    ``maxLength``) are added on the converted result by the ``overlay`` of a field's
    :func:`moco.api.marks.crd` (see :mod:`moco.api.rules`).
    """

    def __init__(
        self,
        definitions: Mapping[str, Any] | None = None,
        *,
        descriptions: bool = True,
    ) -> None:
        self._defs = definitions if definitions is not None else load_definitions()
        self._descriptions = descriptions

    def definition(self, name: str) -> dict[str, Any]:
        """The structural schema of definition ``name`` (a fresh copy)."""
        return self._convert_ref(name, stack=())

    # -- internals ------------------------------------------------------------------------------
    def _convert_ref(self, name: str, stack: tuple[str, ...]) -> dict[str, Any]:
        if name in stack:
            raise SchemaError(f"recursive definition {' -> '.join((*stack, name))}")
        if name == QUANTITY:
            return {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "pattern": QUANTITY_PATTERN,
                "x-kubernetes-int-or-string": True,
            }
        if name == INT_OR_STRING:
            return {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
        if name == OBJECT_META:
            return embedded_object_meta(self._descriptions)
        try:
            node = self._defs[name]
        except KeyError:
            raise SchemaError(f"definition {name} is not in {DATA_FILE.name}") from None
        return self._convert(node, (*stack, name))

    def _convert(self, node: Mapping[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        ref = node.get("$ref")
        if ref is None and "allOf" in node:
            if len(node["allOf"]) != 1:
                raise SchemaError(f"allOf with {len(node['allOf'])} members under {stack[-1]}")
            ref = node["allOf"][0].get("$ref")
        out: dict[str, Any]
        if ref is not None:
            out = self._convert_ref(_ref_name(ref), stack)
            # Keys beside the reference (description, default) describe this use of the type.
            if self._descriptions and "description" in node:
                out["description"] = node["description"]
            if "default" in node and node["default"] not in _ZERO:
                out["default"] = copy.deepcopy(node["default"])
            return out
        out = {}
        for key in _KEPT:
            if key not in node:
                continue
            if key == "description" and not self._descriptions:
                continue
            if key == "default" and node["default"] in _ZERO:
                continue
            out[key] = copy.deepcopy(node[key])
        if "properties" in node:
            out["properties"] = {k: self._convert(v, stack) for k, v in sorted(node["properties"].items())}
        if "required" in node:
            out["required"] = sorted(node["required"])
        if "items" in node:
            out["items"] = self._convert(node["items"], stack)
        if "additionalProperties" in node and isinstance(node["additionalProperties"], dict):
            out["additionalProperties"] = self._convert(node["additionalProperties"], stack)
        if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
            # An opaque object (FieldsV1 and alike): keep what the user wrote.
            out["x-kubernetes-preserve-unknown-fields"] = True
        if "type" not in out and "x-kubernetes-int-or-string" not in out:
            raise SchemaError(f"a node under {stack[-1]} has no type: {sorted(node)}")
        if out.get("x-kubernetes-list-type") == "map":
            self._fix_list_map(out, node, stack)
        return out

    def _fix_list_map(self, out: dict[str, Any], node: Mapping[str, Any], stack: tuple[str, ...]) -> None:
        """Give every list-map key that is neither required nor defaulted its upstream default."""
        item = out["items"]
        raw_item = node["items"]
        raw_ref = raw_item.get("$ref") or raw_item.get("allOf", [{}])[0].get("$ref")
        raw_props = self._defs[_ref_name(raw_ref)]["properties"] if raw_ref else raw_item["properties"]
        for key in out["x-kubernetes-list-map-keys"]:
            prop = item["properties"][key]
            if key in item.get("required", ()) or "default" in prop:
                continue
            upstream = raw_props[key].get("default")
            if upstream is None:
                raise SchemaError(f"list-map key {key} under {stack[-1]} is neither required nor defaulted")
            prop["default"] = upstream
