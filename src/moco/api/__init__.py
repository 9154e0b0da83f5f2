"""MOCO's ``moco.cybozu.com/v1beta2`` API: models, names, defaults, CRDs. No I/O.

A manifest written for Cybozu's MOCO applies to moco unchanged and means the same thing. This
package is where that promise is kept:

* :mod:`moco.api.mysqlcluster`, :mod:`moco.api.backuppolicy`, :mod:`moco.api.job`: pydantic
  models, every field of MOCO's v1beta2 types with its JSON name. ``model_dump(by_alias=True,
  exclude_none=True)`` (:meth:`~moco.api.base.Model.to_json`) gives back the parsed manifest.
  Embedded Kubernetes objects (Pod spec, claim spec, Service spec, volumes, env) are dicts.
* :mod:`moco.api.names`: the names MOCO derives (``moco-<name>``, ``mysql-<ns>.<name>``, ...).
* :mod:`moco.api.defaults`: the CRD's defaults applied in Python, and :func:`with_defaults` for
  what MOCO's mutating webhook did (random ``serverIDBase``, the finalizer).
* :mod:`moco.api.schema`, :mod:`moco.api.openapi`, :mod:`moco.api.crdgen`: the CRDs, generated
  from the models (they are the one source: a field added to a model is in the CRD, and a unit
  test walks both), with the real Kubernetes schemas inside (from the checked-in OpenAPI of
  Kubernetes v1.35.4). MOCO's webhook rules are CEL in :mod:`moco.api.rules` and the bounds of
  every field in :mod:`moco.api.bounds`, both attached to the fields with
  :func:`moco.api.marks.crd`. ``python -m moco.api.crdgen manifests/crd`` writes them; a unit
  test keeps the checked-in files equal to that output.
* :mod:`moco.api.policy`: ValidatingAdmissionPolicies for the rules that read other objects.

Only ``v1beta2`` is served and stored. MOCO also serves ``v1beta1`` through a conversion webhook;
moco runs no webhook server, so v1beta1 objects are not served.

Enforcement without a webhook server
------------------------------------
Rules about the object alone (names, replicas, reserved containers/ports/volumes, required
templates, cron syntax, immutable fields) are in the CRD and enforced by the apiserver on
create and update, with messages that name the field. Two MOCO rules read other objects; a
schema cannot express them. Both ship as ValidatingAdmissionPolicies in
``manifests/crd/admission-policies.yaml`` (in-process in the apiserver, GA since 1.30):

* deleting a BackupPolicy that a MySQLCluster of its namespace still names in
  ``spec.backupPolicyName`` is refused (the MySQLClusters are the policy's params);
* growing a volume claim template's storage request is refused when its StorageClass (or the
  default class) does not allow volume expansion (the StorageClasses are the params).

Where those policies are not installed, the controller is the backstop: it does not resize
claims whose class refuses expansion and says so with a ``ReconcileSuccess=False`` condition
and a Warning Event, and a missing BackupPolicy shows up the same way.

Invariants: nothing here does I/O or imports Kubernetes or MySQL client libraries; every
function is deterministic given its inputs (randomness is passed in).
"""

from __future__ import annotations

from moco.api.backuppolicy import BackupPolicy, BackupPolicySpec
from moco.api.base import Model, ObjectMeta
from moco.api.defaults import apply_schema_defaults, schema_defaulted, with_defaults
from moco.api.errors import ApiError, InvalidObject, SchemaError
from moco.api.job import BucketConfig, JobConfig
from moco.api.mysqlcluster import (
    BackupStatus,
    Condition,
    MySQLCluster,
    MySQLClusterSpec,
    MySQLClusterStatus,
    OverwriteContainer,
    PersistentVolumeClaim,
    PodTemplateSpec,
    ReconcileInfo,
    RestoreSpec,
    ServiceTemplate,
)

__all__ = [
    "ApiError",
    "BackupPolicy",
    "BackupPolicySpec",
    "BackupStatus",
    "BucketConfig",
    "Condition",
    "InvalidObject",
    "JobConfig",
    "Model",
    "MySQLCluster",
    "MySQLClusterSpec",
    "MySQLClusterStatus",
    "ObjectMeta",
    "OverwriteContainer",
    "PersistentVolumeClaim",
    "PodTemplateSpec",
    "ReconcileInfo",
    "RestoreSpec",
    "SchemaError",
    "ServiceTemplate",
    "apply_schema_defaults",
    "schema_defaulted",
    "with_defaults",
]
