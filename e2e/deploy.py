"""``python -m e2e.deploy IMAGE``: install moco into the current cluster with ``IMAGE``.

Applies ``manifests/crd`` (CRDs and admission policies), then ``manifests/deploy`` rendered by
``kubectl kustomize`` with every reference to moco's image (the controller's and the agent's,
``MOCO_AGENT_IMAGE``) replaced by ``IMAGE``, and waits for the controller's rollout. The image
must already be on the nodes (``make moco-image``); a tag other than ``latest`` keeps the
default pull policy at IfNotPresent, so nothing is pulled.
"""

from __future__ import annotations

import sys
import time

from e2e.kubectl import Kubectl, KubectlError, default_kubeconfig
from e2e.local.images import REPO_ROOT

MANIFEST_IMAGE = "localhost/moco/moco:latest"
NAMESPACE = "moco-system"
DEPLOYMENT = "moco-controller"


def render(kube: Kubectl, image: str) -> str:
    out = kube("kustomize", str(REPO_ROOT / "manifests" / "deploy"))
    if MANIFEST_IMAGE not in out:
        raise KubectlError(f"manifests/deploy does not name {MANIFEST_IMAGE}: cannot set the image")
    return out.replace(MANIFEST_IMAGE, image)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    image = argv[0]
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
    kube("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=render(kube, image))
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
