"""``manifests/overlays/secure-metrics`` as kustomize renders it: the controller's flags are the ones
``moco-controller`` resolves to secure metrics on their own port, the Service carries the name the
metrics certificate is issued for and points at that port, the metrics RBAC is in, and the
apiserver accepts the Deployment and the Service (server-side dry run, in a test namespace)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from moco.cli.controller import HttpServing, http_serving, parser
from moco.controllers.metricscert import METRICS_SERVICE, metrics_dns_names
from moco.kube.client import Client
from moco.kube.resource import DEPLOYMENTS, SERVICES
from moco.testing.envtest import k8s_bin_dir
from moco.testing.rbac import RBAC

pytestmark = pytest.mark.apiserver

OVERLAY = RBAC.parent / "overlays" / "secure-metrics"


def _rendered() -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(k8s_bin_dir() / "kubectl"), "kustomize", str(OVERLAY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_the_flags_resolve_to_secure_metrics_on_the_services_port(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MOCO_HTTP_BIND_ADDRESS", "MOCO_METRICS_BIND_ADDRESS", "MOCO_METRICS_SECURE"):
        monkeypatch.delenv(var, raising=False)
    docs = _rendered()
    container = _one(docs, "Deployment", "moco-controller")["spec"]["template"]["spec"]["containers"][0]
    serving = http_serving(parser().parse_args(container["args"]))
    assert serving == HttpServing(probes=("0.0.0.0", 8081), metrics=("0.0.0.0", 8443), secure=True)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8081, "metrics": 8443}
    service = _one(docs, "Service", METRICS_SERVICE)
    assert f"{METRICS_SERVICE}.{service['metadata']['namespace']}.svc" in metrics_dns_names(
        service["metadata"]["namespace"]
    )
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    labels = _one(docs, "Deployment", "moco-controller")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    for role in ("moco-metrics-auth", "moco-metrics-reader"):
        _one(docs, "ClusterRole", role)


async def test_the_apiserver_accepts_the_deployment_and_the_service(kube: Client, namespace: str) -> None:
    docs = _rendered()
    for res, kind, name in (
        (DEPLOYMENTS, "Deployment", "moco-controller"),
        (SERVICES, "Service", METRICS_SERVICE),
    ):
        obj = _one(docs, kind, name)
        obj["metadata"]["namespace"] = namespace
        await kube.request("POST", res.path(namespace), query={"dryRun": "All"}, body=obj)
