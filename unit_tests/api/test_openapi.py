"""The checked-in OpenAPI definitions and their conversion to structural schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moco.api import extract, openapi
from moco.api.errors import SchemaError


def test_checked_in_file_is_the_closure_of_the_roots() -> None:
    doc = json.loads(openapi.DATA_FILE.read_text())
    assert doc["kubernetesVersion"] == "v1.35.4"
    assert doc["source"] == "k8s.io/kubernetes@v1.35.4/api/openapi-spec/v3/api__v1_openapi.json"
    assert doc["roots"] == list(openapi.ROOTS)
    defs = doc["definitions"]
    assert openapi.closure(defs) == defs
    assert openapi.dump(doc) == openapi.DATA_FILE.read_text()


def test_closure_refuses_a_missing_definition() -> None:
    with pytest.raises(SchemaError, match="not in the OpenAPI document"):
        openapi.closure({"a": {"$ref": "#/components/schemas/b"}}, roots=("a",))


def _defs(**extra: Any) -> dict[str, Any]:
    return {
        "T": {
            "type": "object",
            "description": "t",
            "properties": {
                "q": {"$ref": "#/components/schemas/" + openapi.QUANTITY},
                "i": {
                    "allOf": [{"$ref": "#/components/schemas/" + openapi.INT_OR_STRING}],
                    "description": "i",
                },
                "s": {"type": "string", "default": "", "x-kubernetes-patch-strategy": "merge"},
                "p": {"type": "string", "default": "TCP"},
                "u": {"type": "object"},
                "l": {
                    "type": "array",
                    "items": {"allOf": [{"$ref": "#/components/schemas/K"}], "default": {}},
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                },
            },
            "x-kubernetes-unions": [{}],
        },
        "K": {"type": "object", "properties": {"name": {"type": "string", "default": ""}}},
        **extra,
    }


def test_conversion_follows_controller_gen() -> None:
    out = openapi.Converter(_defs()).definition("T")
    props = out["properties"]
    assert props["q"]["x-kubernetes-int-or-string"] is True
    assert props["q"]["pattern"] == openapi.QUANTITY_PATTERN
    assert props["i"] == {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
        "description": "i",
    }
    assert props["s"] == {"type": "string"}  # zero default and patch strategy dropped
    assert props["p"]["default"] == "TCP"
    assert props["u"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    # a list-map key that is not required keeps its (zero) default: the apiserver needs one
    assert props["l"]["items"]["properties"]["name"]["default"] == ""
    assert "x-kubernetes-unions" not in out


def test_descriptions_can_be_dropped() -> None:
    out = openapi.Converter(_defs(), descriptions=False).definition("T")
    assert "description" not in json.dumps(out)


def test_conversion_errors() -> None:
    with pytest.raises(SchemaError, match="recursive"):
        openapi.Converter({"R": {"type": "object", "properties": {"r": {"$ref": "#/x/R"}}}}).definition("R")
    with pytest.raises(SchemaError, match="no type"):
        openapi.Converter({"N": {"description": "x"}}).definition("N")
    with pytest.raises(SchemaError, match="neither required nor defaulted"):
        openapi.Converter(
            {
                "L": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"k": {"type": "string"}}},
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["k"],
                }
            }
        ).definition("L")


def test_embedded_object_meta_is_reduced() -> None:
    vol = openapi.Converter().definition("io.k8s.api.core.v1.Volume")
    meta = vol["properties"]["ephemeral"]["properties"]["volumeClaimTemplate"]["properties"]["metadata"]
    assert sorted(meta["properties"]) == ["annotations", "finalizers", "labels", "name", "namespace"]


def test_extract_reproduces_the_checked_in_file(tmp_path: Path) -> None:
    # A stand-in module root holding only the upstream file's definitions we keep (plus an
    # unrelated one, which extraction must leave out).
    doc = json.loads(openapi.DATA_FILE.read_text())
    spec = tmp_path / openapi.SOURCE_FILE
    spec.parent.mkdir(parents=True)
    schemas = {**doc["definitions"], "io.k8s.api.core.v1.Unrelated": {"type": "object"}}
    spec.write_text(json.dumps({"components": {"schemas": schemas}}))
    out = tmp_path / "out.json"
    assert extract.main([str(tmp_path), str(out)]) == 0
    assert out.read_text() == openapi.DATA_FILE.read_text()
    assert extract.main([]) == 2
