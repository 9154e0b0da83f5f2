"""Dynamic volumes: a PVC of the default StorageClass binds, and its data outlives the Pod."""

from __future__ import annotations

import json
import secrets

from e2e import images
from e2e.conftest import pod_manifest
from e2e.kubectl import Kubectl


def _default_class(kube: Kubectl) -> dict[str, object]:
    for sc in kube.get("storageclasses")["items"]:
        if sc["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true":
            return dict(sc)
    raise AssertionError("no default StorageClass")


def test_default_storage_class_allows_expansion(kube: Kubectl) -> None:
    assert _default_class(kube).get("allowVolumeExpansion") is True


def test_pvc_binds_and_survives_pod_delete(k: Kubectl) -> None:
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "e2e-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }
    k.apply(json.dumps(pvc))
    token = secrets.token_hex(8)
    volume = {
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "e2e-data"}}],
    }

    def pod(name: str, command: list[str]) -> str:
        doc = json.loads(pod_manifest(name, images.shell_image(), command, **volume))
        doc["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        return json.dumps(doc)

    k.apply(pod("e2e-writer", ["sh", "-c", f"echo {token} > /data/token && sleep 86400"]))
    k.wait_ready("pod/e2e-writer", timeout=120)
    assert k.get("pvc", "e2e-data")["status"]["phase"] == "Bound"
    assert k.exec("e2e-writer", "cat", "/data/token").strip() == token
    k("delete", "pod", "e2e-writer", "--wait=true", timeout=90)

    k.apply(pod("e2e-reader", ["sleep", "86400"]))
    k.wait_ready("pod/e2e-reader", timeout=120)
    assert k.exec("e2e-reader", "cat", "/data/token").strip() == token
    k("delete", "pod", "e2e-reader", "--wait=true", timeout=90)
    k("delete", "pvc", "e2e-data", "--wait=false")
