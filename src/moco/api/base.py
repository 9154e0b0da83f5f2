"""The pydantic base shared by every model of :mod:`moco.api`, and the reduced ObjectMeta.

Rules every model follows, so that ``model_dump(by_alias=True, exclude_none=True)`` gives back
exactly the manifest that was parsed:

* JSON names are the aliases (camelCase, MOCO's spelling such as ``serverIDBase``); Python
  attribute names are snake_case and accepted too (``populate_by_name``).
* Optional fields default to ``None``, never to MOCO's default value: defaults are the
  apiserver's job (the CRD's ``default:``) and :func:`moco.api.defaults.with_defaults`'s.
* Unknown fields are refused (``extra="forbid"``): the CRD prunes them, so an object read
  from the apiserver never has them, and a typo in a manifest fails loudly here too.
* Embedded Kubernetes objects (PodSpec, ServiceSpec, ...) are plain dicts; the CRD schema, not
  pydantic, validates their inside.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from moco.api import bounds
from moco.api.errors import InvalidObject
from moco.api.marks import crd
from moco.constants import API_VERSION

#: A JSON object as the apiserver returns it (embedded Kubernetes types).
JSONObject = dict[str, Any]
#: A resource.Quantity: the apiserver keeps what was written, a string or a number (as a
#: string at most :data:`moco.api.bounds.MAX_QUANTITY` characters).
Quantity = Annotated[str, StringConstraints(max_length=bounds.MAX_QUANTITY)] | int | float

API_VERSION_DESCRIPTION: Final = (
    "APIVersion defines the versioned schema of this representation of an object. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
KIND_DESCRIPTION: Final = (
    "Kind is a string value representing the REST resource this object represents. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)


class Model(BaseModel):
    """Base of the API models (see the module docstring for the rules)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
    )

    @classmethod
    def parse(cls, obj: JSONObject) -> Self:
        """Parse a JSON object; :class:`~moco.api.errors.InvalidObject` names what is wrong."""
        try:
            return cls.model_validate(obj)
        except ValidationError as e:
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
            )
            raise InvalidObject(cls.__name__, name, problems) from None

    def to_json(self) -> JSONObject:
        """The object as JSON (aliases, ``None`` fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ObjectMeta(Model):
    """MOCO's reduced metadata for templates: only name, labels and annotations."""

    name: str | None = Field(
        default=None, max_length=bounds.MAX_NAME, description="Name is the name of the object."
    )
    labels: dict[str, Annotated[str, StringConstraints(max_length=bounds.MAX_LABEL_VALUE)]] | None = Field(
        default=None,
        max_length=bounds.MAX_METADATA_ENTRIES,
        description="Labels is a map of string keys and values.",
    )
    annotations: (
        dict[str, Annotated[str, StringConstraints(max_length=bounds.MAX_ANNOTATION_VALUE)]] | None
    ) = Field(
        default=None,
        max_length=bounds.MAX_METADATA_ENTRIES,
        description="Annotations is a map of string keys and values.",
    )


class TopLevelObject(Model):
    """A top-level object of ``moco.cybozu.com/v1beta2``: apiVersion, kind, metadata and its identity.

    A subclass gives ``kind`` its default (its own kind) and adds ``spec`` and, if any, ``status``;
    the field order stays apiVersion, kind, metadata, then the subclass's fields.
    """

    api_version: str = Field(default=API_VERSION, description=API_VERSION_DESCRIPTION)
    kind: str = Field(description=KIND_DESCRIPTION)
    metadata: JSONObject = Field(default_factory=dict, json_schema_extra=crd(schema={"type": "object"}))

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        """``metadata.namespace``."""
        return str(self.metadata.get("namespace", ""))


def describe(model: type[BaseModel], field: str) -> str:
    """The description of ``model.field`` (the CRD schema takes its text from the models)."""
    info = model.model_fields[field]
    if not info.description:
        raise KeyError(f"{model.__name__}.{field} has no description")
    return info.description
