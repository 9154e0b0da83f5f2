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

from moco.kube.client import Client
from moco.kube.resource import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    ROLEBINDINGS,
    ROLES,
    SERVICEACCOUNTS,
    Resource,
)

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


async def service_account_token(kube: Client, namespace: str, account: str) -> str:
    """Create ServiceAccount ``namespace/account`` and a 10-minute token of it (TokenRequest API):
    a bearer token the apiserver's TokenReview authenticates, as a scraper's would be."""
    await kube.create(
        SERVICEACCOUNTS,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": namespace}},
    )
    answer = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 600},
        },
    )
    return str(answer["status"]["token"])
