"""``python -m e2e.deploy IMAGE [BACKUP_IMAGE]``: install moco into the current cluster with ``IMAGE``.

Applies ``manifests/crd`` (CRDs and admission policies), then ``manifests/deploy`` rendered by
``kubectl kustomize`` with the controller's image replaced by ``IMAGE`` and ``MOCO_BACKUP_IMAGE``
by ``BACKUP_IMAGE`` (default: moco-backup with ``IMAGE``'s tag, built beside it), and waits for
the controller's rollout. The agent image is the controller's default (versioned on its own, see
``moco.controllers.containers.AGENT_VERSION``): a new ``IMAGE`` changes no mysqld Pod. The images
must already be on the nodes (``make moco-image``); a tag other than ``latest`` keeps the
default pull policy at IfNotPresent, so nothing is pulled.
"""

from __future__ import annotations

import sys
import time

from e2e.kubectl import Kubectl, KubectlError, default_kubeconfig
from e2e.local.images import REPO_ROOT
from moco.controllers.containers import default_backup_image

MANIFEST_IMAGE = "localhost/moco/moco:latest"
MANIFEST_BACKUP_IMAGE = default_backup_image(MANIFEST_IMAGE)
NAMESPACE = "moco-system"
DEPLOYMENT = "moco-controller"


def render(kube: Kubectl, image: str, backup_image: str | None = None) -> str:
    out = kube("kustomize", str(REPO_ROOT / "manifests" / "deploy"))
    for placeholder in (MANIFEST_IMAGE, MANIFEST_BACKUP_IMAGE):
        if placeholder not in out:
            raise KubectlError(f"manifests/deploy does not name {placeholder}: cannot set the image")
    out = out.replace(MANIFEST_BACKUP_IMAGE, backup_image or default_backup_image(image))
    return out.replace(MANIFEST_IMAGE, image)


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    image = argv[0]
    backup_image = argv[1] if len(argv) == 2 else None
    kube = Kubectl(default_kubeconfig())
    print(f"[deploy] CRDs and admission policies -> {kube.kubeconfig}", flush=True)
    kube("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "manifests" / "crd"))
    # A CRD created a moment ago may have no status yet: kubectl wait then fails at once
    # (".status.conditions accessor error") instead of waiting; ask again until the bound.
    deadline = time.monotonic() + 60
    while True:
        try:
            kube("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s", timeout=70)
            break
        except KubectlError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    print(f"[deploy] manifests/deploy with image {image}", flush=True)
    kube("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=render(kube, image, backup_image))
    print(f"[deploy] waiting for {NAMESPACE}/{DEPLOYMENT} to roll out...", flush=True)
    k = kube.ns(NAMESPACE)
    try:
        k("rollout", "status", f"deployment/{DEPLOYMENT}", "--timeout=180s", timeout=190)
    except KubectlError as e:
        print(f"[deploy] not rolled out: {e}", file=sys.stderr)
        print(k("get", "pods", "-o", "wide", check=False), file=sys.stderr)
        print(k("logs", f"deployment/{DEPLOYMENT}", "--tail=30", check=False), file=sys.stderr)
        return 1
    print(f"[deploy] {NAMESPACE}/{DEPLOYMENT} is available", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
