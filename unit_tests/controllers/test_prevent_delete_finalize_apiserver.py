"""A deleted cluster's Pods are not held by prevent-delete (apiserver tier, with kube-controller-manager).

The loop that removes the annotation stops when its MySQLCluster is deleted; a primary Pod still
annotated then would be refused to the garbage collector for ever. The finalizer removes the
annotation from the cluster's Pods, and the garbage collector deletes them (here the Pods of the
real StatefulSet controller).
"""

from __future__ import annotations

import pytest

from moco import constants
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.resource import PODS, Resource
from moco.testing.envtest import Envtest
from unit_tests.controllers import test_reconciler_apiserver as reconciler_tests
from unit_tests.controllers.harness import (
    Recorder,
    cluster_manifest,
    eventually,
    get_or_none,
    running_controller,
)

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(180)]

reconciled = reconciler_tests.reconciled


async def test_finalizer_releases_annotated_pods_for_the_garbage_collector(
    controller_manager: Envtest, kube: Client, namespace: str, sysns: str
) -> None:
    ns = namespace
    async with running_controller(
        controller_manager.kubeconfig, sysns, watch_namespace=ns, registry=Recorder()
    ):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, maxDelaySecondsForPodDeletion=60))
        await eventually(lambda: reconciled(kube, ns), "first reconcile")
        # the StatefulSet controller makes the Pods; the loop would annotate the primary's
        await eventually(lambda: get_or_none(kube, PODS, "moco-test-0", ns), "Pod created", within=60)
        await kube.patch(
            PODS, "moco-test-0", {"metadata": {"annotations": {constants.ANN_PREVENT_DELETE: "true"}}}, ns
        )
        await kube.delete(MYSQLCLUSTERS, "test", ns)
        await eventually(lambda: _gone(kube, MYSQLCLUSTERS, "test", ns), "cluster finalized", within=60)
        await eventually(lambda: _gone(kube, PODS, "moco-test-0", ns), "Pod garbage collected", within=60)


async def _gone(kube: Client, res: Resource, name: str, ns: str) -> bool:
    return await get_or_none(kube, res, name, ns) is None
