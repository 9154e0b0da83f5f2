"""The csi-loop add-on's manifests (:mod:`e2e.local.csi`), checked without a cluster: what the
kubelet, the sidecars and the StorageClass need to agree on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from e2e.local import csi
from e2e.local.images import ImageDef
from e2e.local.spec import ClusterSpec

IMGS = {n: ImageDef(n, "t", ()) for n in ("csi-loop", "csi-provisioner", "csi-resizer")}


@pytest.fixture(params=[1, 3], ids=["1-node", "3-nodes"])
def docs(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, dict[str, Any]]:
    spec = ClusterSpec(nodes=request.param, data_root=tmp_path / "data", run_root=tmp_path / "run")
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in csi.manifests(spec, IMGS)}


def _args(container: dict[str, Any]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in container["args"])


def test_storage_class_expands_through_the_driver(docs: dict[str, dict[str, Any]]) -> None:
    sc = docs[f"StorageClass/{csi.STORAGE_CLASS}"]
    assert sc["allowVolumeExpansion"] is True
    assert sc["provisioner"] == csi.DRIVER
    driver = docs[f"CSIDriver/{csi.DRIVER}"]["spec"]
    # no external-attacher runs: without attachRequired false no volume would ever mount
    assert driver["attachRequired"] is False
    # mysqld runs as 10000 with fsGroup: the kubelet must hand it the new filesystem
    assert driver["fsGroupPolicy"] == "File"


def test_controller_pod_shares_one_socket_and_the_volumes_directory(docs: dict[str, dict[str, Any]]) -> None:
    pod = docs["Deployment/csi-loop-controller"]["spec"]["template"]["spec"]
    by_name = {c["name"]: c for c in pod["containers"]}
    assert set(by_name) == {"csi-loop", "csi-provisioner", "csi-resizer"}
    driver = _args(by_name["csi-loop"])
    assert driver["mode"] == "controller"
    assert driver["endpoint"] == "/csi/csi.sock"
    for sidecar in ("csi-provisioner", "csi-resizer"):
        assert _args(by_name[sidecar])["csi-address"] == driver["endpoint"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["volumes"]["hostPath"]["path"] == driver["volumes-dir"]
    mounts = {m["name"]: m["mountPath"] for m in by_name["csi-loop"]["volumeMounts"]}
    assert mounts["volumes"] == driver["volumes-dir"]  # the same path inside and on the node


def test_node_plugin_listens_where_the_kubelet_looks(docs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    pod = docs["DaemonSet/csi-loop-node"]["spec"]["template"]["spec"]
    assert pod["hostPID"] is True  # the shim's mount namespace is reached through /proc
    (c,) = pod["containers"]
    assert c["securityContext"]["privileged"] is True
    args = _args(c)
    root = f"{tmp_path / 'data'}/$(NODE_NAME)/kubelet"
    assert args["kubelet-root"] == root
    assert args["endpoint"] == f"{root}/plugins/{csi.DRIVER}/csi.sock"
    assert args["node-id"] == "$(NODE_NAME)"
    assert {e["name"] for e in c["env"]} == {"NODE_NAME"}
    # the node's directories are under the data root, mounted at the same path
    (m,) = c["volumeMounts"]
    (v,) = pod["volumes"]
    assert m["mountPath"] == v["hostPath"]["path"] == str(tmp_path / "data")
    assert pod["tolerations"] == [{"operator": "Exists"}]
