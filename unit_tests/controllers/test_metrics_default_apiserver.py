"""How each shipped install serves /metrics, as kustomize renders it and moco-controller resolves
its flags: the cluster-wide overlay (the default install) serves them secure, as kubebuilder's
scaffolds do; the namespaced one plain (it has no ClusterRole for TokenReview/SubjectAccessReview);
the local e2e deployment plain (it is scraped through the apiserver's Pod proxy, which forwards
no bearer token), with no metrics Service left pointing at a closed port."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from moco.cli.controller import HttpServing, http_serving, parser
from moco.controllers.metricscert import METRICS_SERVICE
from moco.testing.envtest import k8s_bin_dir
from moco.testing.rbac import RBAC

pytestmark = pytest.mark.apiserver

MANIFESTS = RBAC.parent
SECURE = HttpServing(probes=("0.0.0.0", 8081), metrics=("0.0.0.0", 8443), secure=True)
PLAIN = HttpServing(probes=("0.0.0.0", 8081), metrics=("0.0.0.0", 8081), beside_probes=True, secure=False)


def _rendered(path: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(k8s_bin_dir() / "kubectl"), "kustomize", str(MANIFESTS / path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.mark.parametrize(
    ("path", "serving", "service"),
    [
        ("overlays/cluster-wide", SECURE, True),
        ("overlays/secure-metrics", SECURE, True),
        ("overlays/namespaced", PLAIN, False),
        ("deploy", PLAIN, False),
    ],
)
def test_metrics_serving_of_each_install(
    monkeypatch: pytest.MonkeyPatch, path: str, serving: HttpServing, service: bool
) -> None:
    for var in ("MOCO_HTTP_BIND_ADDRESS", "MOCO_METRICS_BIND_ADDRESS", "MOCO_METRICS_SECURE"):
        monkeypatch.delenv(var, raising=False)
    docs = _rendered(path)
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert http_serving(parser().parse_args(container["args"])) == serving
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == ({"health": 8081, "metrics": 8443} if serving.secure else {"health": 8081})
    services = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == METRICS_SERVICE]
    assert bool(services) is service
