"""A cluster whose reconcile fails still gets its clustering loop (MOCO bug #543).

After a controller restart the clustering loops run only where a reconcile starts them. A
reconcile that fails (here: the ``spec.mysqlConfigMapName`` ConfigMap is missing) must not leave
a running MySQL cluster without failover: the loop is started before the error is returned.
"""

from __future__ import annotations

from typing import Any

import pytest

from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import (
    Recorder,
    cluster_manifest,
    condition,
    eventually,
    running_controller,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(120)]


async def test_failed_reconcile_starts_the_clustering_loop(
    apiserver: Envtest, kube: Client, namespace: str, sysns: str
) -> None:
    ns = namespace
    registry = Recorder()
    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns, registry=registry):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, mysqlConfigMapName="absent"))

        async def failed() -> dict[str, Any] | None:
            obj = await kube.get(MYSQLCLUSTERS, "test", ns)
            c = condition(obj, "ReconcileSuccess")
            return obj if c and c["status"] == "False" else None

        await eventually(failed, "ReconcileSuccess=False")
        assert (ns, "test") in registry.updates, "the failing reconcile did not start the clustering loop"
