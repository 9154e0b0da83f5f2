"""The loop's Kubernetes side of Pod deletion protection, against a real kube-apiserver.

``spec.maxDelaySecondsForPodDeletion`` reaches the loop's view of the cluster, the annotation
the loop sets is read back into its view of the Pod, the admission policy then refuses the
Pod's deletion, and once the loop removes the annotation the Pod can be deleted. Removing it
from a Pod that is gone is no error.
"""

from __future__ import annotations

import asyncio

import pytest

from moco import constants
from moco.controllers.kubeside import ClusterKubeSide, pod_info
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import PODS
from moco.kube.store import Store
from unit_tests.controllers.harness import cluster_manifest

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(120)]

POD = "moco-test-0"


def _pod() -> dict[str, object]:
    labels = {
        constants.LABEL_APP_NAME: constants.APP_NAME_MYSQL,
        constants.LABEL_APP_CREATED_BY: constants.APP_CREATOR,
        constants.LABEL_APP_INSTANCE: "test",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "labels": labels},
        "spec": {"containers": [{"name": "mysqld", "image": "mysql"}]},
    }


async def _delete_refused(kube: Client, ns: str, within: float = 30.0) -> str:
    """Delete the annotated Pod until the policy (in force asynchronously) refuses; the message."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await kube.delete(PODS, POD, ns)
        except (errors.Invalid, errors.Forbidden) as e:
            return e.message
        if loop.time() > deadline:
            pytest.fail("the annotated Pod was deleted")
        # deleted before the policy was in force: the loop annotates the new Pod again
        await kube.create(PODS, _pod(), ns)
        await kube.patch(PODS, POD, {"metadata": {"annotations": {constants.ANN_PREVENT_DELETE: "true"}}}, ns)
        await asyncio.sleep(0.2)


async def test_annotation_set_read_back_enforced_and_removed(kube: Client, namespace: str) -> None:
    ns = namespace
    await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, maxDelaySecondsForPodDeletion=60))
    await kube.create(PODS, _pod(), ns)
    side = ClusterKubeSide(kube, Store(), Store(), ns, "test", ns, timeout=5.0)
    view = await side.get_cluster(fresh=True)
    assert view is not None
    assert view.max_delay_seconds_for_pod_deletion == 60

    await side.set_prevent_delete(POD, True)
    pod = await kube.get(PODS, POD, ns)
    assert pod["metadata"]["annotations"][constants.ANN_PREVENT_DELETE] == "true"
    info = pod_info(pod, "test")
    assert info is not None
    assert info.prevent_delete

    message = await _delete_refused(kube, ns)
    assert constants.ANN_PREVENT_DELETE in message

    await side.set_prevent_delete(POD, False)
    pod = await kube.get(PODS, POD, ns)
    assert constants.ANN_PREVENT_DELETE not in (pod["metadata"].get("annotations") or {})
    info = pod_info(pod, "test")
    assert info is not None
    assert not info.prevent_delete
    await kube.delete(PODS, POD, ns)
    await side.set_prevent_delete(POD, False)  # gone: nothing to do, no error
