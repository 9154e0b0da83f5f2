"""The prevent-delete admission policy in a real kube-apiserver.

A mysqld Pod of moco annotated ``moco.cybozu.com/prevent-delete: "true"`` (the clustering loop
sets it on the primary while a replica lags beyond ``spec.maxDelaySecondsForPodDeletion``)
cannot be deleted: the refusal names the annotation and what to do. Without it, with another
value, on a Pod that is not moco's mysqld, or on a Pod already terminating (its final deletion
must not hang), deletion is allowed. The envtest installs the policies of ``manifests/crd``.

A new policy takes effect asynchronously: each test first deletes an annotated sentinel Pod
until a deletion is refused (re-creating it while deletions still go through). Real deletions
are used: a dry-run deletion of an unscheduled Pod was carried out on this apiserver.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from moco import constants
from moco.api import policy
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import PODS

pytestmark = pytest.mark.apiserver

MOCO_LABELS = {
    constants.LABEL_APP_NAME: constants.APP_NAME_MYSQL,
    constants.LABEL_APP_CREATED_BY: constants.APP_CREATOR,
    constants.LABEL_APP_INSTANCE: "db",
}
HOLD = "example.com/hold"


def _pod(
    name: str, *, annotation: str | None = "true", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(MOCO_LABELS if labels is None else labels)}
    if annotation is not None:
        meta["annotations"] = {constants.ANN_PREVENT_DELETE: annotation}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "mysqld", "image": "mysql"}]},
    }


SENTINEL = "moco-sentinel-0"


async def _in_force(kube: Client, namespace: str, within: float = 30.0) -> errors.KubeError:
    """Delete an annotated sentinel Pod until the policy refuses it; the refusal."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if await _gone(kube, SENTINEL, namespace):
            await kube.create(PODS, _pod(SENTINEL), namespace)
        try:
            await kube.delete(PODS, SENTINEL, namespace)
        except (errors.Invalid, errors.Forbidden) as e:
            return e
        if loop.time() > deadline:
            pytest.fail("deleting an annotated Pod was never refused")
        await asyncio.sleep(0.2)


async def _release(kube: Client, name: str, namespace: str) -> None:
    await _annotate(kube, name, namespace, None)


async def _annotate(kube: Client, name: str, namespace: str, value: str | None) -> None:
    await kube.patch(
        PODS, name, {"metadata": {"annotations": {constants.ANN_PREVENT_DELETE: value}}}, namespace
    )


async def _gone(kube: Client, name: str, namespace: str) -> bool:
    try:
        await kube.get(PODS, name, namespace)
    except errors.NotFound:
        return True
    return False


def test_policy_is_generated_into_the_manifests() -> None:
    names = [d["metadata"]["name"] for d in policy.manifests()]
    assert names.count(policy.PREVENT_DELETE) == 2  # the policy and its binding


async def test_an_annotated_mysqld_pod_is_not_deleted(kube: Client, namespace: str) -> None:
    await _in_force(kube, namespace)
    await kube.create(PODS, _pod("moco-db-0"), namespace)
    with pytest.raises((errors.Forbidden, errors.Invalid)) as refused:
        await kube.delete(PODS, "moco-db-0", namespace)
    message = refused.value.message
    assert f"Pod {namespace}/moco-db-0 is protected from deletion" in message
    assert constants.ANN_PREVENT_DELETE in message
    assert "spec.maxDelaySecondsForPodDeletion" in message
    assert "remove the annotation" in message
    assert not await _gone(kube, "moco-db-0", namespace)
    # once the annotation is removed (the loop does it when replicas caught up), the Pod can go
    await _release(kube, "moco-db-0", namespace)
    await kube.delete(PODS, "moco-db-0", namespace)
    assert await _gone(kube, "moco-db-0", namespace)
    await _release(kube, SENTINEL, namespace)


@pytest.mark.parametrize(
    ("case", "pod"),
    [
        ("no annotation", _pod("moco-db-1", annotation=None)),
        ("another value", _pod("moco-db-1", annotation="false")),
        ("not a mysqld Pod of moco", _pod("app-0", labels={"app": "web"})),
    ],
)
async def test_deletion_is_allowed(kube: Client, namespace: str, case: str, pod: dict[str, Any]) -> None:
    await _in_force(kube, namespace)
    await kube.create(PODS, pod, namespace)
    await kube.delete(PODS, pod["metadata"]["name"], namespace)
    assert await _gone(kube, pod["metadata"]["name"], namespace), case
    await _release(kube, SENTINEL, namespace)


async def test_a_terminating_pod_finishes_even_if_annotated_meanwhile(kube: Client, namespace: str) -> None:
    pod = _pod("moco-db-2", annotation=None)
    pod["metadata"]["finalizers"] = [HOLD]
    await kube.create(PODS, pod, namespace)
    await _in_force(kube, namespace)
    await kube.delete(PODS, "moco-db-2", namespace)  # terminating: held by the finalizer
    await _annotate(kube, "moco-db-2", namespace, "true")
    await kube.delete(PODS, "moco-db-2", namespace)  # a second delete (what the kubelet sends) is allowed
    await kube.patch(PODS, "moco-db-2", {"metadata": {"finalizers": None}}, namespace)
    assert await _gone(kube, "moco-db-2", namespace)
    await _release(kube, SENTINEL, namespace)
