"""The checked-in CRDs are the generator's output, and they are structural."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from moco.api import crdgen

CRD_DIR = Path(__file__).resolve().parents[2] / "manifests" / "crd"


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return crdgen.render()


@pytest.fixture(scope="module")
def parsed(rendered: dict[str, str]) -> dict[str, Any]:
    return {
        name: yaml.load(rendered[name], Loader=_Loader)
        for name in (crdgen.MYSQLCLUSTER_FILE, crdgen.BACKUPPOLICY_FILE)
    }


def test_checked_in_files_equal_generator_output(rendered: dict[str, str]) -> None:
    for name, text in rendered.items():
        path = CRD_DIR / name
        assert path.is_file(), f"{path} is missing: run `make crds`"
        assert path.read_text() == text, f"{path} differs from the generator output: run `make crds`"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for key in ("properties",):
            for k, v in node.get(key, {}).items():
                out += _walk(v, f"{path}.{k}")
        if isinstance(node.get("items"), dict):
            out += _walk(node["items"], path + "[]")
        if isinstance(node.get("additionalProperties"), dict):
            out += _walk(node["additionalProperties"], path + "{}")
    return out


def _schema(parsed: dict[str, Any], name: str) -> dict[str, Any]:
    doc = parsed[name]
    schema: dict[str, Any] = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@pytest.mark.parametrize("name", [crdgen.MYSQLCLUSTER_FILE, crdgen.BACKUPPOLICY_FILE])
def test_schemas_are_structural(parsed: dict[str, Any], name: str) -> None:
    text = json.dumps(_schema(parsed, name))
    assert "$ref" not in text
    assert '"allOf"' not in text
    assert '"oneOf"' not in text
    for path, node in _walk(_schema(parsed, name)):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in item.get("required", []) or "default" in item["properties"][key], (path, key)


def test_embedded_pod_spec_is_the_real_schema(parsed: dict[str, Any]) -> None:
    spec = _schema(parsed, crdgen.MYSQLCLUSTER_FILE)["properties"]["spec"]["properties"]
    container = spec["podTemplate"]["properties"]["spec"]["properties"]["containers"]["items"]
    port = container["properties"]["ports"]["items"]["properties"]
    assert port["containerPort"] == {
        "type": "integer",
        "format": "int32",
        "description": port["containerPort"]["description"],
    }
    assert port["protocol"]["default"] == "TCP"
    assert "x-kubernetes-preserve-unknown-fields" not in container
    requests = container["properties"]["resources"]["properties"]["requests"]["additionalProperties"]
    assert requests["x-kubernetes-int-or-string"] is True
    assert requests["pattern"].startswith("^(\\+|-)?")
    claim = spec["volumeClaimTemplates"]["items"]["properties"]["spec"]["properties"]
    assert "storageClassName" in claim
    svc = spec["primaryServiceTemplate"]["properties"]["spec"]["properties"]
    assert svc["ports"]["items"]["properties"]["targetPort"]["x-kubernetes-int-or-string"] is True


def test_crd_shape_matches_moco(parsed: dict[str, Any]) -> None:
    crd = parsed[crdgen.MYSQLCLUSTER_FILE]
    assert crd["metadata"]["name"] == "mysqlclusters.moco.cybozu.com"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1beta2"
    assert version["served"]
    assert version["storage"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Available",
        "Healthy",
        "Primary",
        "Synced replicas",
        "Errant replicas",
        "Clustering Active",
        "Reconcile Active",
        "Last backup",
    ]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["podTemplate", "volumeClaimTemplates"]
    defaults = {k: v["default"] for k, v in spec["properties"].items() if "default" in v}
    assert defaults == {
        "replicas": 1,
        "maxDelaySeconds": 60,
        "maxDelaySecondsForPodDeletion": 0,
        "startupWaitSeconds": 3600,
        "initializeTimezoneData": False,
    }


def test_crd_size_leaves_room_below_the_etcd_limit(parsed: dict[str, Any]) -> None:
    for name in (crdgen.MYSQLCLUSTER_FILE, crdgen.BACKUPPOLICY_FILE):
        stored = len(json.dumps(parsed[name], separators=(",", ":")))
        assert stored < 1_000_000, (name, stored)


def test_main_writes_the_files(tmp_path: Path, rendered: dict[str, str]) -> None:
    assert crdgen.main([str(tmp_path)]) == 0
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == rendered
    assert crdgen.main([]) == 2
