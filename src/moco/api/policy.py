"""ValidatingAdmissionPolicies for MOCO's rules that a CRD schema cannot express.

Two of MOCO's webhook rules read objects other than the one being admitted; an in-process
ValidatingAdmissionPolicy (GA since Kubernetes 1.30) can, by making the other objects its
*params* (a binding with ``paramRef.selector: {}`` evaluates the policy once per matching
object):

* ``moco-backuppolicy-in-use``: a BackupPolicy cannot be deleted while a MySQLCluster of its
  namespace names it in ``spec.backupPolicyName`` (params: the MySQLClusters of the namespace).
* ``moco-volume-expansion``: a volume claim template's storage request may grow only if its
  StorageClass (the named one, or the default class when none is named) allows volume
  expansion (params: the StorageClasses). Shrinking is allowed, as in MOCO (the controller
  re-creates the claims).

With no params (no MySQLCluster in the namespace, no StorageClass) the policies allow
(``parameterNotFoundAction: Allow``); MOCO's webhook refuses an expansion when there is no
default StorageClass, which the controller reports as a condition instead.

A third rule guards Pods, which no CRD schema reaches, and needs no params:

* ``moco-prevent-delete``: a mysqld Pod of moco annotated ``moco.cybozu.com/prevent-delete:
  "true"`` cannot be deleted. The clustering loop sets the annotation on the primary's Pod while
  a replica lags more than ``spec.maxDelaySecondsForPodDeletion`` behind and removes it once
  none does, as MOCO's does: deleting the primary then would make a lagging replica the next
  primary (a switchover waits for it, so the write stop would be long) or lose what it has not
  received. The refusal says so and what to do. A Pod already terminating is not held (the
  kubelet's final deletion of a Pod annotated after its deletion began must not hang), and the
  Pod eviction API is not a deletion here (a PodDisruptionBudget governs it), as in MOCO.
"""

from __future__ import annotations

from typing import Any, Final

from moco.api import backuppolicy, mysqlcluster
from moco.constants import (
    ANN_PREVENT_DELETE,
    API_VERSION,
    APP_CREATOR,
    APP_NAME_MYSQL,
    GROUP,
    LABEL_APP_CREATED_BY,
    LABEL_APP_NAME,
    VERSION,
)

FILE: Final = "admission-policies.yaml"
BACKUPPOLICY_IN_USE: Final = "moco-backuppolicy-in-use"
VOLUME_EXPANSION: Final = "moco-volume-expansion"
PREVENT_DELETE: Final = "moco-prevent-delete"

_STORAGE = (
    "has({t}.spec.resources) && has({t}.spec.resources.requests) && 'storage' in {t}.spec.resources.requests"
)
_GROWN = (
    "object.spec.volumeClaimTemplates.filter(t, has(t.metadata.name) && "
    + _STORAGE.format(t="t")
    + " && oldObject.spec.volumeClaimTemplates.exists(o, has(o.metadata.name) && "
    "o.metadata.name == t.metadata.name && "
    + _STORAGE.format(t="o")
    + " && quantity(string(t.spec.resources.requests.storage)).isGreaterThan("
    "quantity(string(o.spec.resources.requests.storage)))))"
)
_IS_DEFAULT = (
    "has(params.metadata.annotations) && ("
    "params.metadata.annotations[?'storageclass.kubernetes.io/is-default-class'].orValue('') == 'true' || "
    "params.metadata.annotations[?'storageclass.beta.kubernetes.io/is-default-class'].orValue('') == 'true')"
)


def _policy(
    name: str, param_kind: dict[str, str] | None, rules: list[dict[str, Any]], spec: dict[str, Any]
) -> dict[str, Any]:
    params = {} if param_kind is None else {"paramKind": param_kind}
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            **params,
            "matchConstraints": {"resourceRules": rules},
            **spec,
        },
    }


def _binding(name: str, *, params: bool = True) -> dict[str, Any]:
    ref = {"paramRef": {"selector": {}, "parameterNotFoundAction": "Allow"}} if params else {}
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"], **ref},
    }


_PREVENT_DELETE_SET = (
    f"has(oldObject.metadata.annotations) && "
    f"oldObject.metadata.annotations[?'{ANN_PREVENT_DELETE}'].orValue('') == 'true'"
)


def _prevent_delete() -> dict[str, Any]:
    pod = "oldObject.metadata.namespace + '/' + oldObject.metadata.name"
    doc = _policy(
        PREVENT_DELETE,
        None,
        [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["DELETE"], "resources": ["pods"]}],
        {
            "validations": [
                {
                    "expression": f"has(oldObject.metadata.deletionTimestamp) || !({_PREVENT_DELETE_SET})",
                    "messageExpression": f"'Pod ' + {pod} + ' is protected from deletion by the annotation "
                    f"{ANN_PREVENT_DELETE}: a replica of its MySQLCluster lags more than "
                    "spec.maxDelaySecondsForPodDeletion behind. moco removes the annotation once the "
                    "replicas have caught up; delete the Pod then, or remove the annotation to delete "
                    "it now (a lagging replica may become the primary and miss what it has not received)'",
                    "reason": "Forbidden",
                }
            ]
        },
    )
    doc["spec"]["matchConstraints"]["objectSelector"] = {
        "matchLabels": {LABEL_APP_NAME: APP_NAME_MYSQL, LABEL_APP_CREATED_BY: APP_CREATOR}
    }
    return doc


def manifests() -> list[dict[str, Any]]:
    """The policies and their bindings, in apply order."""
    in_use = _policy(
        BACKUPPOLICY_IN_USE,
        {"apiVersion": API_VERSION, "kind": mysqlcluster.KIND},
        [
            {
                "apiGroups": [GROUP],
                "apiVersions": [VERSION],
                "operations": ["DELETE"],
                "resources": [backuppolicy.PLURAL],
            }
        ],
        {
            "validations": [
                {
                    "expression": "!has(params.spec.backupPolicyName) || "
                    "params.spec.backupPolicyName != oldObject.metadata.name",
                    "messageExpression": "'BackupPolicy ' + oldObject.metadata.name + "
                    "' is in use: MySQLCluster ' + "
                    "params.metadata.namespace + '/' + params.metadata.name + "
                    "' has a reference to this policy in spec.backupPolicyName'",
                    "reason": "Forbidden",
                }
            ]
        },
    )
    expansion = _policy(
        VOLUME_EXPANSION,
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass"},
        [
            {
                "apiGroups": [GROUP],
                "apiVersions": [VERSION],
                "operations": ["UPDATE"],
                "resources": [mysqlcluster.PLURAL],
            }
        ],
        {
            "variables": [
                {"name": "grown", "expression": _GROWN},
                {"name": "isDefault", "expression": _IS_DEFAULT},
            ],
            "validations": [
                {
                    "expression": "(has(params.allowVolumeExpansion) && params.allowVolumeExpansion) || "
                    "!variables.grown.exists(t, has(t.spec.storageClassName) ? "
                    "t.spec.storageClassName == params.metadata.name : variables.isDefault)",
                    "messageExpression": "'spec.volumeClaimTemplates: storage class \"' + "
                    "params.metadata.name + "
                    "'\" is not allowed to expand volumes: the storage request of ' + "
                    "variables.grown.filter(t, has(t.spec.storageClassName) ? "
                    "t.spec.storageClassName == params.metadata.name : variables.isDefault)"
                    ".map(t, t.metadata.name).join(', ') + ' cannot grow'",
                    "reason": "Forbidden",
                }
            ],
        },
    )
    return [
        in_use,
        _binding(BACKUPPOLICY_IN_USE),
        expansion,
        _binding(VOLUME_EXPANSION),
        _prevent_delete(),
        _binding(PREVENT_DELETE, params=False),
    ]
