"""Generate the CustomResourceDefinitions: ``python -m moco.api.crdgen OUT_DIR``.

Writes one file per CRD, named as controller-gen names them
(``moco.cybozu.com_mysqlclusters.yaml``, ``moco.cybozu.com_backuppolicies.yaml``), plus the
admission policies of :mod:`moco.api.policy`. The checked-in ``manifests/crd`` must equal this
output; a unit test says so.

Version: only ``v1beta2`` is served and stored. MOCO also serves ``v1beta1`` through a conversion
webhook; moco runs no webhook server and serves v1beta2 alone (a v1beta1 manifest is refused,
not silently converted).

Descriptions: kept, for MOCO's own fields and for the embedded Kubernetes types. The largest
CRD (MySQLCluster, three Pod-sized schemas) is about 0.6 MB as stored JSON, well below etcd's
1.5 MB object limit, and the descriptions are what ``kubectl explain`` shows. (MOCO's CRD, made
from apply-configuration types, carries only boilerplate there.) Like every CRD of this size it
is applied server-side (``kubectl apply --server-side``) or created: the client-side
last-applied annotation is limited to 256 KB.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from moco.api import backuppolicy, mysqlcluster, policy
from moco.api.openapi import Converter
from moco.api.schema import backuppolicy_schema, mysqlcluster_schema
from moco.constants import GROUP, VERSION

_GENERATOR = "moco.api.crdgen"

MYSQLCLUSTER_FILE = f"{GROUP}_{mysqlcluster.PLURAL}.yaml"
BACKUPPOLICY_FILE = f"{GROUP}_{backuppolicy.PLURAL}.yaml"


def _crd(kind: str, plural: str, schema: dict[str, Any], **version: Any) -> dict[str, Any]:
    singular = kind.lower()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "annotations": {"moco.cybozu.com/generated-by": _GENERATOR},
        },
        "spec": {
            "group": GROUP,
            "names": {"kind": kind, "listKind": kind + "List", "plural": plural, "singular": singular},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    **version,
                }
            ],
        },
    }


def _column(name: str, type_: str, path: str) -> dict[str, str]:
    return {"name": name, "type": type_, "jsonPath": path}


def _cond(type_: str) -> str:
    return f".status.conditions[?(@.type=='{type_}')].status"


def mysqlcluster_crd(conv: Converter | None = None) -> dict[str, Any]:
    """The MySQLCluster CRD (printer columns and status subresource as MOCO's)."""
    columns = [
        _column("Available", "string", _cond(mysqlcluster.CONDITION_AVAILABLE)),
        _column("Healthy", "string", _cond(mysqlcluster.CONDITION_HEALTHY)),
        _column("Primary", "integer", ".status.currentPrimaryIndex"),
        _column("Synced replicas", "integer", ".status.syncedReplicas"),
        _column("Errant replicas", "integer", ".status.errantReplicas"),
        _column("Clustering Active", "string", _cond(mysqlcluster.CONDITION_CLUSTERING_ACTIVE)),
        _column("Reconcile Active", "string", _cond(mysqlcluster.CONDITION_RECONCILIATION_ACTIVE)),
        _column("Last backup", "string", ".status.backup.time"),
    ]
    return _crd(
        mysqlcluster.KIND,
        mysqlcluster.PLURAL,
        mysqlcluster_schema(conv),
        additionalPrinterColumns=columns,
        subresources={"status": {}},
    )


def backuppolicy_crd(conv: Converter | None = None) -> dict[str, Any]:
    """The BackupPolicy CRD."""
    return _crd(backuppolicy.KIND, backuppolicy.PLURAL, backuppolicy_schema(conv))


def to_yaml(*docs: dict[str, Any]) -> str:
    """Deterministic YAML (sorted keys, block style, no line wrapping)."""
    return "".join(
        "---\n"
        + yaml.safe_dump(d, sort_keys=True, default_flow_style=False, width=1 << 20, allow_unicode=True)
        for d in docs
    )


def render() -> dict[str, str]:
    """File name -> content of everything the generator writes."""
    conv = Converter()
    return {
        MYSQLCLUSTER_FILE: to_yaml(mysqlcluster_crd(conv)),
        BACKUPPOLICY_FILE: to_yaml(backuppolicy_crd(conv)),
        policy.FILE: to_yaml(*policy.manifests()),
    }


def main(argv: list[str]) -> int:
    """Write :func:`render`'s files into ``argv[0]``."""
    if len(argv) != 1:
        print("usage: python -m moco.api.crdgen OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (out / name).write_text(text)
        print(f"wrote {out / name} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
