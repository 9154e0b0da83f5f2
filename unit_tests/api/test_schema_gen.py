"""moco.api.schema on small models: how pydantic's JSON schema becomes a structural schema."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import ConfigDict, Field

from moco.api.base import JSONObject, Model
from moco.api.errors import SchemaError
from moco.api.marks import crd, rule
from moco.api.openapi import QUANTITY
from moco.api.schema import merge, structural


class Inner(Model):
    """Inner is
    wrapped over two lines."""

    model_config = ConfigDict(json_schema_extra=crd(required=("b",), validations=[rule("true", "m")]))

    a: int = Field(ge=0, le=9, description="A.", json_schema_extra=crd(format="int32"))
    b: str | None = Field(default=None, max_length=5, json_schema_extra=crd(nullable=True))


class Outer(Model):
    """Outer."""

    inner: Inner | None = Field(default=None, description="The inner one.")
    items: list[Inner] | None = Field(default=None, max_length=3)
    mode: Literal["x", "y"] | None = Field(default=None, json_schema_extra=crd(default="x"))
    size: str | int | float | None = Field(default=None, json_schema_extra=crd(kubernetes=QUANTITY))
    labels: dict[str, str] | None = Field(default=None, max_length=4)


def test_optional_model_fields_become_plain_structural_nodes() -> None:
    s = structural(Outer)
    assert s["description"] == "Outer."
    assert "required" not in s
    inner = s["properties"]["inner"]
    assert inner["description"] == "The inner one."  # the field's description wins
    assert inner["required"] == ["a", "b"]  # pydantic's plus the model's crd(required=...)
    assert inner["properties"]["a"] == {
        "type": "integer",
        "format": "int32",
        "minimum": 0,
        "maximum": 9,
        "description": "A.",
    }
    assert inner["properties"]["b"] == {"type": "string", "maxLength": 5, "nullable": True}
    assert inner["x-kubernetes-validations"] == [{"rule": "true", "message": "m"}]
    items = s["properties"]["items"]
    assert items["maxItems"] == 3
    assert items["items"]["description"] == "Inner is wrapped over two lines."  # the class docstring
    assert s["properties"]["mode"] == {"type": "string", "enum": ["x", "y"], "default": "x"}
    assert s["properties"]["size"]["x-kubernetes-int-or-string"] is True
    assert s["properties"]["labels"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "maxProperties": 4,
    }


def test_a_union_needs_a_kubernetes_type() -> None:
    class Bad(Model):
        size: str | int | None = None

    with pytest.raises(SchemaError, match=r"Bad\.size: a union of 2 types"):
        structural(Bad)


def test_an_object_of_any_shape_needs_a_schema() -> None:
    class Bad(Model):
        blob: JSONObject | None = None

    with pytest.raises(SchemaError, match=r"Bad\.blob: an object of any shape"):
        structural(Bad)


def test_merge_is_deep_and_appends_lists() -> None:
    node: dict[str, Any] = {"a": {"b": 1, "c": [1]}, "d": 1}
    merge(node, {"a": {"c": [2], "e": 3}, "d": 2})
    assert node == {"a": {"b": 1, "c": [1, 2], "e": 3}, "d": 2}
