"""The RBAC of ``manifests/rbac`` as objects to create in a test apiserver.

The controller's tests and benchmarks run the real ``moco-controller`` with nothing but the
rights the manifests give its ServiceAccount; :func:`rbac_docs` moves those manifests into the
namespace the controller runs in (cluster-scoped names made unique per namespace, so that tests
of one session do not collide).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Protocol

import yaml

from moco.kube.resource import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLEBINDINGS, ROLES, Resource

RBAC: Final = Path(__file__).parents[3] / "manifests" / "rbac"
#: The resource of each RBAC kind the manifests hold.
KINDS: Final[dict[str, Resource]] = {
    "Role": ROLES,
    "RoleBinding": ROLEBINDINGS,
    "ClusterRole": CLUSTERROLES,
    "ClusterRoleBinding": CLUSTERROLEBINDINGS,
}


def rbac_docs(mode: str, ns: str) -> list[dict[str, Any]]:
    """The manifests' RBAC of ``mode`` (``namespaced`` or ``cluster-wide``), moved into ``ns``."""
    docs = []
    for f in sorted((RBAC / mode).glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for d in yaml.safe_load_all(f.read_text()):
            if d["kind"].startswith("Cluster"):
                d["metadata"]["name"] = f"{d['metadata']['name']}-{ns}"
                if "roleRef" in d:
                    d["roleRef"]["name"] = f"{d['roleRef']['name']}-{ns}"
            else:
                d["metadata"]["namespace"] = ns
            for s in d.get("subjects") or []:
                s["namespace"] = ns
            docs.append(d)
    return docs


class _Minter(Protocol):
    def mint_kubeconfig(self, user: str, groups: list[str]) -> Path: ...


def controller_kubeconfig(env: _Minter, ns: str) -> Path:
    """A kubeconfig as moco-controller's ServiceAccount in ``ns`` (the subject ``rbac_docs`` binds)."""
    user = f"system:serviceaccount:{ns}:moco-controller"
    return env.mint_kubeconfig(user, ["system:serviceaccounts", f"system:serviceaccounts:{ns}"])
