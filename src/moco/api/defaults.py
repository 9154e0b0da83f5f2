"""Defaulting: what the apiserver fills in from the CRD, and what only the controller can.

MOCO defaults in two places and so does moco:

* the CRD's ``default:`` values (``replicas: 1``, ``maxDelaySeconds: 60``,
  ``startupWaitSeconds: 3600``, ``jobConfig.threads: 4``, ``concurrencyPolicy: Allow``, ... and
  upstream ones inside embedded types such as a port's ``protocol: TCP``). The apiserver applies
  them; :func:`apply_schema_defaults` applies the same schema to a JSON object the way the
  apiserver's structural defaulting does, so tests and the controller can predict the stored
  object without a round trip.
* what MOCO's mutating webhook did and a schema cannot: a random ``serverIDBase`` when it is
  0 or absent, and the ``moco.cybozu.com/mysqlcluster`` finalizer. moco has no webhook; the
  controller calls :func:`with_defaults` and writes the result back (a patch of
  ``spec.serverIDBase`` and ``metadata.finalizers``) before anything else, so the server IDs
  never change afterwards.

Pure functions: no I/O, the random source is a parameter.
"""

from __future__ import annotations

import copy
import random
from functools import cache
from typing import Any, Final

from moco.api.backuppolicy import BackupPolicy
from moco.api.mysqlcluster import MySQLCluster
from moco.api.schema import Schema, backuppolicy_schema, mysqlcluster_schema
from moco.constants import FINALIZER

#: server_id is a uint32; MOCO draws the base from [1, 2^30] so base + index stays in range.
SERVER_ID_BASE_MASK: Final = 0x7FFFFFFF >> 1


@cache
def _mysqlcluster_schema() -> Schema:
    return mysqlcluster_schema()


@cache
def _backuppolicy_schema() -> Schema:
    return backuppolicy_schema()


def apply_schema_defaults(value: Any, schema: Schema) -> Any:
    """``value`` with the schema's defaults filled in, as the apiserver does (a new object).

    An absent property with a ``default`` gets it; a ``null`` in a non-nullable property with a
    default is replaced by it; then defaulting descends into properties, additional properties
    and list items.
    """
    if isinstance(value, dict):
        out = {k: copy.deepcopy(v) for k, v in value.items()}
        props: dict[str, Schema] = schema.get("properties", {})
        for name, prop in props.items():
            if "default" not in prop:
                continue
            if name not in out or (out[name] is None and not prop.get("nullable", False)):
                out[name] = copy.deepcopy(prop["default"])
        extra = schema.get("additionalProperties")
        for name in list(out):
            if name in props:
                out[name] = apply_schema_defaults(out[name], props[name])
            elif isinstance(extra, dict):
                out[name] = apply_schema_defaults(out[name], extra)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_schema_defaults(v, schema["items"]) for v in value]
    return value


def new_server_id_base(rng: random.Random) -> int:
    """A random positive ``serverIDBase`` drawn as MOCO draws it."""
    return (rng.getrandbits(32) & SERVER_ID_BASE_MASK) + 1


def schema_defaulted(cluster: MySQLCluster) -> MySQLCluster:
    """``cluster`` as the apiserver stores it: the CRD's defaults applied."""
    return MySQLCluster.model_validate(apply_schema_defaults(cluster.to_json(), _mysqlcluster_schema()))


def backuppolicy_schema_defaulted(policy: BackupPolicy) -> BackupPolicy:
    """``policy`` as the apiserver stores it."""
    return BackupPolicy.model_validate(apply_schema_defaults(policy.to_json(), _backuppolicy_schema()))


def with_defaults(cluster: MySQLCluster, rng: random.Random) -> MySQLCluster:
    """``cluster`` fully defaulted: CRD defaults, a random ``serverIDBase`` if unset, the finalizer.

    Idempotent: a defaulted cluster comes back equal (the random base is drawn only when the
    field is 0 or absent).
    """
    out = schema_defaulted(cluster)
    if not out.spec.server_id_base:
        out.spec.server_id_base = new_server_id_base(rng)
    finalizers = list(out.metadata.get("finalizers") or [])
    if FINALIZER not in finalizers:
        out.metadata = {**out.metadata, "finalizers": [*finalizers, FINALIZER]}
    return out
