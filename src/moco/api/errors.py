"""Errors raised by :mod:`moco.api`.

``ApiError`` is the root; callers that only need "the API layer refused" catch it.

* :class:`SchemaError`: the OpenAPI source or a generated schema is not what the generator
  expects (a missing definition, a list-map key without default, ...). A build-time error.
* :class:`InvalidObject`: an object does not parse as a MySQLCluster / BackupPolicy (wraps
  pydantic's ``ValidationError`` with the offending kind and name).
"""

from __future__ import annotations


class ApiError(Exception):
    """Root of the errors of :mod:`moco.api`."""


class SchemaError(ApiError):
    """The OpenAPI definitions or a generated CRD schema are unusable."""


class InvalidObject(ApiError):
    """An object is not a valid instance of one of our kinds."""

    def __init__(self, kind: str, name: str, detail: str) -> None:
        super().__init__(f"invalid {kind} {name!r}: {detail}")
        self.kind = kind
        self.name = name
        self.detail = detail
