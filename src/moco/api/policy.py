"""ValidatingAdmissionPolicies for MOCO's rules that look at other objects.

Two of MOCO's webhook rules read objects other than the one being admitted. A CRD schema cannot
express them; an in-process ValidatingAdmissionPolicy (GA since Kubernetes 1.30) can, by making
the other objects its *params* (a binding with ``paramRef.selector: {}`` evaluates the policy
once per matching object):

* ``moco-backuppolicy-in-use``: a BackupPolicy cannot be deleted while a MySQLCluster of its
  namespace names it in ``spec.backupPolicyName`` (params: the MySQLClusters of the namespace).
* ``moco-volume-expansion``: a volume claim template's storage request may grow only if its
  StorageClass (the named one, or the default class when none is named) allows volume
  expansion (params: the StorageClasses). Shrinking is allowed, as in MOCO (the controller
  re-creates the claims).

With no params (no MySQLCluster in the namespace, no StorageClass) the policies allow
(``parameterNotFoundAction: Allow``); MOCO's webhook refuses an expansion when there is no
default StorageClass, which the controller reports as a condition instead.
"""

from __future__ import annotations

from typing import Any, Final

from moco.api import backuppolicy, mysqlcluster
from moco.constants import API_VERSION, GROUP, VERSION

FILE: Final = "admission-policies.yaml"
BACKUPPOLICY_IN_USE: Final = "moco-backuppolicy-in-use"
VOLUME_EXPANSION: Final = "moco-volume-expansion"

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
    name: str, param_kind: dict[str, str], rules: list[dict[str, Any]], spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": param_kind,
            "matchConstraints": {"resourceRules": rules},
            **spec,
        },
    }


def _binding(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "paramRef": {"selector": {}, "parameterNotFoundAction": "Allow"},
        },
    }


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
    return [in_use, _binding(BACKUPPOLICY_IN_USE), expansion, _binding(VOLUME_EXPANSION)]
