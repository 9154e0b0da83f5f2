"""Every MOCO example, reconciled by moco on a real apiserver: the rendered objects (pinned by the
golden files of test_render.py) are valid Kubernetes objects -- the apiserver validates each
server-side apply -- and the reconcile succeeds for each."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.resource import CONFIGMAPS, SERVICES, STATEFULSETS
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import condition, eventually, running_controller
from unit_tests.controllers.render_helpers import EXAMPLES, example_names

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]


async def test_moco_examples_reconcile(apiserver: Envtest, kube: Client, namespace: str) -> None:
    ns = namespace
    names = example_names()
    async with running_controller(apiserver.kubeconfig, ns, watch_namespace=ns):
        # one namespace, one cluster per example (renamed ex0, ex1, ...)
        for i, name in enumerate(names):
            for doc in yaml.safe_load_all((EXAMPLES / name).read_text()):
                if not doc or doc["kind"] not in ("ConfigMap", "MySQLCluster"):
                    continue
                obj = copy.deepcopy(doc)
                obj["metadata"]["namespace"] = ns
                if obj["kind"] == "MySQLCluster":
                    obj["metadata"]["name"] = f"ex{i}"
                    await kube.create(MYSQLCLUSTERS, obj)
                else:
                    await kube.create(CONFIGMAPS, obj)
        for i, name in enumerate(names):

            async def ok(cluster: str = f"ex{i}") -> dict[str, Any] | None:
                obj = await kube.get(MYSQLCLUSTERS, cluster, ns)
                c = condition(obj, "ReconcileSuccess")
                if c and c["status"] == "False":
                    raise AssertionError(c["message"])
                return obj if c and c["status"] == "True" else None

            await eventually(ok, f"{name} reconciled")
            sts = await kube.get(STATEFULSETS, f"moco-ex{i}", ns)
            containers = [c["name"] for c in sts["spec"]["template"]["spec"]["containers"]]
            assert containers[:2] == ["mysqld", "agent"], name
            if name == "loadbalancer.yaml":
                primary = await kube.get(SERVICES, f"moco-ex{i}-primary", ns)
                assert primary["spec"]["type"] == "LoadBalancer"
            if name == "collect-metrics.yaml":
                assert "mysqld-exporter" in containers
