"""What a CRD needs to know about a field that pydantic does not: :func:`crd`.

The models are the one source of the CRD schemas (:mod:`moco.api.schema` turns their JSON
schema into a structural schema). Most of a field's schema follows from its type and its
``Field`` constraints (``ge``/``le`` -> ``minimum``/``maximum``, ``min_length``/``max_length``
-> ``minLength``/``maxLength`` or ``minItems``/``maxItems``/``maxProperties``, ``pattern``,
``Literal`` -> ``enum``, the description). The rest is written beside the field with
``Field(json_schema_extra=crd(...))`` (or on a model with ``model_config``'s
``json_schema_extra``), under the key :data:`KEY`:

* ``default``: the CRD's default (the models' own defaults stay ``None``, see :mod:`moco.api.base`);
* ``nullable``: ``null`` is kept by the apiserver rather than pruned (MOCO's pointer fields);
* ``format``: ``int32``, ``int64``, ``date-time``;
* ``required``: required by the CRD although optional in Python (status fields the controller
  always writes); on a model, the tuple of required JSON names, or ``True`` for all;
* ``kubernetes``: the node is this upstream OpenAPI definition (an embedded Pod spec, a
  Quantity), from the checked-in Kubernetes v1.35.4 OpenAPI (:mod:`moco.api.openapi`);
  ``items_kubernetes`` the same for a list's items; ``without`` drops properties of it;
* ``validations``: CEL rules (``x-kubernetes-validations``) guarding this node;
* ``overlay``: keys merged deep into the node (bounds and rules inside an embedded type:
  dicts merge, lists append);
* ``schema``: the node, verbatim (the root ``metadata``).

Pure data; nothing here knows the models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

KEY: Final = "x-moco-crd"
_UNSET: Final[Any] = object()

Rule = dict[str, Any]


def crd(
    *,
    default: Any = _UNSET,
    nullable: bool = False,
    format: str | None = None,
    required: bool | tuple[str, ...] = False,
    kubernetes: str | None = None,
    items_kubernetes: str | None = None,
    without: tuple[str, ...] = (),
    validations: Sequence[Rule] = (),
    overlay: Mapping[str, Any] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``json_schema_extra`` of a field or model carrying these CRD facts."""
    facts: dict[str, Any] = {}
    if default is not _UNSET:
        facts["default"] = default
    if nullable:
        facts["nullable"] = True
    if format:
        facts["format"] = format
    if required:
        facts["required"] = list(required) if isinstance(required, tuple) else True
    if kubernetes:
        facts["kubernetes"] = kubernetes
    if items_kubernetes:
        facts["items_kubernetes"] = items_kubernetes
    if without:
        facts["without"] = list(without)
    if validations:
        facts["validations"] = [dict(r) for r in validations]
    if overlay:
        facts["overlay"] = dict(overlay)
    if schema is not None:
        facts["schema"] = dict(schema)
    return {KEY: facts}


def rule(rule: str, message: str, *, field_path: str | None = None, reason: str | None = None) -> Rule:
    """A CEL rule with a fixed message."""
    out: Rule = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


def rule_expr(
    rule: str, message_expression: str, *, field_path: str | None = None, reason: str | None = None
) -> Rule:
    """A CEL rule whose message is a CEL expression (it can quote the offending value)."""
    out: Rule = {"rule": rule, "messageExpression": message_expression}
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


def cel_list(values: Sequence[Any]) -> str:
    """A CEL list literal of strings or numbers."""
    return "[" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values) + "]"
