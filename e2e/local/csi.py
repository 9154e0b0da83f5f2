"""Opt-in add-on of a local cluster: a CSI driver whose volumes grow, and its StorageClass.

rancher's local-path provisioner (the default class ``standard``) hands out directories: it
cannot expand a volume, and ``df`` in a Pod shows the machine's disk. Volume growth needs a real
CSI driver with expansion. The Kubernetes CSI hostpath driver and node-driver-registrar are not
served by the Go module proxy here (refused: csi-driver-host-path v1.16.1-v1.18.0,
node-driver-registrar v1.3.0/v2.15.0/v2.17.0); external-provisioner v5.3.0 and external-resizer
v1.14.0 are. So the driver is our own ``csi-loop`` (``tools/csi-loop``): each volume is a sparse
file formatted XFS and loop-mounted, grown online by the resizer's ControllerExpandVolume (the
file) and the kubelet's NodeExpandVolume (loop device + ``xfs_growfs``); it registers itself with
the kubelet (node-driver-registrar's job).

What is deployed (namespace :data:`NAMESPACE`, images built by ``csi-tools.sh`` and this module,
imported into every node like the cluster's other images):

- a Deployment ``csi-loop-controller``: csi-loop in controller mode + csi-provisioner +
  csi-resizer, the volume files in ``<data_root>/csi-loop`` (all nodes share the machine's
  filesystem, so every node can mount every volume: no topology, binding ``Immediate``);
- a DaemonSet ``csi-loop-node``: csi-loop in node mode on every node, privileged with
  ``hostPID`` (it mounts in the node's mount namespace, entered through the parent shim: the
  machine's root mount is private, so Bidirectional propagation cannot carry a mount out);
- the CSIDriver (no attach; ``fsGroupPolicy: File``, so mysqld's fsGroup owns the volume) and
  the StorageClass :data:`STORAGE_CLASS` with ``allowVolumeExpansion: true``.

Opt-in because of its cost: the two sidecars build in about 10 minutes on 2 cores the first time
(then cached), and :func:`install` adds a few seconds to a running cluster (three small image
imports per node, two rollouts). ``python -m e2e.local.csi`` installs it; the volume-growth
scenario calls :func:`install` itself.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from e2e.local import addons, images, node
from e2e.local.cluster import kubectl
from e2e.local.spec import ClusterSpec, current

NAMESPACE = "csi-loop"
DRIVER = "csi-loop.moco.local"
STORAGE_CLASS = "csi-loop-expandable"
#: host programs the node plugin runs in the node's mount namespace (Debian: xfsprogs, util-linux, mount)
HOST_TOOLS = ("mkfs.xfs", "xfs_growfs", "losetup", "mount", "umount", "mountpoint", "findmnt", "blkid")
TOOLS_SCRIPT = Path(__file__).resolve().parent / "csi-tools.sh"


def _log(msg: str) -> None:
    print(f"[csi] {msg}", flush=True)


def tool_paths(build: bool = True) -> dict[str, Path]:
    """The cached binaries of ``csi-tools.sh`` (built first when ``build``)."""
    if build:
        subprocess.run(["bash", str(TOOLS_SCRIPT)], check=True, timeout=3600)
    out = subprocess.run(
        ["bash", str(TOOLS_SCRIPT), "--print"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return {k: Path(v) for k, v in (line.split("=", 1) for line in out.split())}


def _version(binary: Path, name: str) -> str:
    return binary.name.removeprefix(f"{name}-")


def csi_images(build: bool = True) -> dict[str, images.ImageDef]:
    """The driver's image (csi-loop + hostexec) and the two sidecars', built or from the cache."""
    tools = tool_paths(build)
    loop_tag = hashlib.sha256((tools["csi-loop"].name + tools["hostexec"].name).encode()).hexdigest()[:10]
    bin_dir = "/usr/local/bin"
    return {
        "csi-loop": images._build_from_files(
            "csi-loop",
            loop_tag,
            {f"{bin_dir}/csi-loop": tools["csi-loop"], f"{bin_dir}/hostexec": tools["hostexec"]},
            entrypoint=(f"{bin_dir}/csi-loop",),
        ),
        **{
            name: images._build_from_files(
                name, _version(tools[name], name), {f"/{name}": tools[name]}, entrypoint=(f"/{name}",)
            )
            for name in ("csi-provisioner", "csi-resizer")
        },
    }


def _container(name: str, image: images.ImageDef, args: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image.ref, "imagePullPolicy": "Never", "args": args, **extra}


def manifests(spec: ClusterSpec, imgs: dict[str, images.ImageDef]) -> list[dict[str, Any]]:
    ns = NAMESPACE
    volumes_dir = str(spec.data_root / "csi-loop")
    sa = "csi-loop-controller"
    rw = ["get", "list", "watch", "create", "update", "patch", "delete"]
    ro = ["get", "list", "watch"]
    rules = [
        {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": rw},
        {
            "apiGroups": [""],
            "resources": ["persistentvolumeclaims"],
            "verbs": ["get", "list", "watch", "update", "patch"],
        },
        {"apiGroups": [""], "resources": ["persistentvolumeclaims/status"], "verbs": ["update", "patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch", "create", "update", "patch"]},
        {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ro},
        {
            "apiGroups": ["storage.k8s.io"],
            "resources": ["storageclasses", "csinodes", "volumeattachments", "volumeattributesclasses"],
            "verbs": ro,
        },
        {
            "apiGroups": ["snapshot.storage.k8s.io"],
            "resources": ["volumesnapshots", "volumesnapshotcontents"],
            "verbs": ro,
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": rw},
    ]
    csi_dir = {"name": "socket", "mountPath": "/csi"}
    sidecar_args = ["--csi-address=/csi/csi.sock", "--timeout=60s", "--v=2"]
    controller = addons._deployment(
        "csi-loop-controller",
        ns,
        {"app": "csi-loop-controller"},
        sa=sa,
        pod_spec={
            "priorityClassName": "system-cluster-critical",
            "containers": [
                _container(
                    "csi-loop",
                    imgs["csi-loop"],
                    [
                        "--mode=controller",
                        f"--driver-name={DRIVER}",
                        "--endpoint=/csi/csi.sock",
                        f"--volumes-dir={volumes_dir}",
                    ],
                    volumeMounts=[csi_dir, {"name": "volumes", "mountPath": volumes_dir}],
                ),
                _container("csi-provisioner", imgs["csi-provisioner"], sidecar_args, volumeMounts=[csi_dir]),
                _container("csi-resizer", imgs["csi-resizer"], sidecar_args, volumeMounts=[csi_dir]),
            ],
            "volumes": [
                {"name": "socket", "emptyDir": {}},
                {"name": "volumes", "hostPath": {"path": volumes_dir, "type": "DirectoryOrCreate"}},
            ],
        },
    )
    # The node plugin: the kubelet's root differs per node (<data_root>/<node>/kubelet); the
    # data root is mounted at its own path and the node's name picks the directory.
    kubelet_root = f"{spec.data_root}/$(NODE_NAME)/kubelet"
    node_ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "csi-loop-node", "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": "csi-loop-node"}},
            "template": {
                "metadata": {"labels": {"app": "csi-loop-node"}},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "hostPID": True,
                    "automountServiceAccountToken": False,
                    "containers": [
                        _container(
                            "csi-loop",
                            imgs["csi-loop"],
                            [
                                "--mode=node",
                                f"--driver-name={DRIVER}",
                                f"--endpoint={kubelet_root}/plugins/{DRIVER}/csi.sock",
                                f"--volumes-dir={volumes_dir}",
                                "--node-id=$(NODE_NAME)",
                                f"--kubelet-root={kubelet_root}",
                            ],
                            env=[
                                {
                                    "name": "NODE_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                                }
                            ],
                            securityContext={"privileged": True},
                            volumeMounts=[{"name": "data-root", "mountPath": str(spec.data_root)}],
                        )
                    ],
                    "volumes": [
                        {"name": "data-root", "hostPath": {"path": str(spec.data_root), "type": "Directory"}}
                    ],
                },
            },
        },
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        addons._sa(sa, ns),
        *addons._cluster_role("csi-loop-controller", rules, sa, ns),
        controller,
        node_ds,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSIDriver",
            "metadata": {"name": DRIVER},
            "spec": {
                "attachRequired": False,
                "podInfoOnMount": False,
                "fsGroupPolicy": "File",
                "volumeLifecycleModes": ["Persistent"],
            },
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": DRIVER,
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Delete",
            "allowVolumeExpansion": True,
        },
    ]


def install(spec: ClusterSpec) -> float:
    """Build (cached), import and deploy the add-on into the running cluster ``spec``; idempotent.

    Returns the seconds it took. Raises when a host tool the node plugin needs is missing.
    """
    missing = [t for t in HOST_TOOLS if shutil.which(t) is None]
    if missing:
        raise RuntimeError(
            f"csi-loop needs {', '.join(missing)} on the machine: run `bash e2e/local/deps.sh`"
        )
    t0 = time.monotonic()
    imgs = csi_images()
    for n in spec.node_specs:
        images.load(node.ctr_argv(n), imgs, n.name)
    kubectl(
        spec,
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        "-",
        stdin=addons.render(manifests(spec, imgs)),
    )
    kubectl(
        spec,
        "-n",
        NAMESPACE,
        "rollout",
        "status",
        "deployment/csi-loop-controller",
        "--timeout=120s",
        timeout=130,
    )
    kubectl(
        spec, "-n", NAMESPACE, "rollout", "status", "daemonset/csi-loop-node", "--timeout=120s", timeout=130
    )
    _wait_registered(spec, deadline=time.monotonic() + 60)
    took = time.monotonic() - t0
    _log(
        f"StorageClass {STORAGE_CLASS} ready ({DRIVER} registered on "
        f"{len(spec.node_specs)} node(s)) in {took:.1f}s"
    )
    return took


def _wait_registered(spec: ClusterSpec, deadline: float) -> None:
    """Until every node's CSINode lists the driver (the kubelet took the registration)."""
    want = {n.name for n in spec.node_specs}
    while True:
        out = kubectl(
            spec,
            "get",
            "csinodes",
            "-o",
            f"jsonpath={{range .items[?(@.spec.drivers[*].name=='{DRIVER}')]}}{{.metadata.name}} {{end}}",
        )
        have = set(out.split())
        if want <= have:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{DRIVER} not registered with the kubelet of {sorted(want - have)} "
                "(see the csi-loop-node Pods' logs)"
            )
        time.sleep(1)


def main() -> int:
    install(current())
    return 0


if __name__ == "__main__":
    sys.exit(main())
