"""Least privilege in manifests/rbac: the cluster-wide role may not update or delete Secrets
anywhere; the controller's own namespace is where its Secrets are rewritten and deleted; the
metrics roles ask reviews and read /metrics, nothing else.
(The apiserver tier runs moco-controller with exactly these rights: test_program_apiserver.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RBAC = Path(__file__).parents[2] / "manifests" / "rbac"


def _docs(mode: str) -> list[dict[str, Any]]:
    out = []
    for f in sorted((RBAC / mode).glob("*.yaml")):
        if f.name != "kustomization.yaml":
            out += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return out


def _verbs(doc: dict[str, Any], resource: str) -> set[str]:
    return {
        v for r in doc["rules"] if r["apiGroups"] == [""] and resource in r["resources"] for v in r["verbs"]
    }


def test_the_cluster_role_neither_updates_nor_deletes_secrets() -> None:
    (role,) = [
        d
        for d in _docs("cluster-wide")
        if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "moco-controller"
    ]
    assert _verbs(role, "secrets") == {"get", "list", "watch", "create", "patch"}


def test_secrets_are_rewritten_and_deleted_in_the_controllers_namespace_only() -> None:
    docs = _docs("cluster-wide")
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Role"}
    secrets = roles["moco-controller-secrets"]
    assert secrets["metadata"]["namespace"] == "moco-system"
    assert {"update", "delete"} <= _verbs(secrets, "secrets")
    (binding,) = [
        d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == "moco-controller-secrets"
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "moco-controller", "namespace": "moco-system"}
    ]
    kustomization = yaml.safe_load((RBAC / "cluster-wide" / "kustomization.yaml").read_text())
    assert "system-secrets.yaml" in kustomization["resources"]


def test_metrics_auth_only_asks_reviews_and_the_reader_only_gets_metrics() -> None:
    docs = {d["metadata"]["name"]: d for d in _docs("cluster-wide") if d["kind"] == "ClusterRole"}
    assert docs["moco-metrics-auth"]["rules"] == [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
    ]
    assert docs["moco-metrics-reader"]["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    (binding,) = [
        d
        for d in _docs("cluster-wide")
        if d["kind"] == "ClusterRoleBinding" and d["roleRef"]["name"] == "moco-metrics-auth"
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "moco-controller", "namespace": "moco-system"}
    ]


def test_every_manifest_of_a_mode_is_in_its_kustomization() -> None:
    for mode in ("cluster-wide", "namespaced"):
        kustomization = yaml.safe_load((RBAC / mode / "kustomization.yaml").read_text())
        files = {f.name for f in (RBAC / mode).glob("*.yaml")} - {"kustomization.yaml"}
        assert set(kustomization["resources"]) == files, mode
