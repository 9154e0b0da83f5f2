"""An operator upgrade on a real apiserver: the new release reconciles every cluster and writes
nothing to its StatefulSet (so no mysqld Pod restarts); what the user declares still rolls.

Release A and release B are two controller builds deployed as ``e2e/deploy.py`` deploys them (the
manifests with the controller's image replaced; the images the controller then uses come from its
own flags and environment) and run one after the other (A is stopped, B started). They share the
agent image, which is versioned on its own (:data:`moco.controllers.containers.AGENT_VERSION`).
After the switch, a change of the cluster's Service template proves that B reconciles the
cluster; the StatefulSet keeps its resourceVersion. Then a Pod template change by the user rolls
(partition = replicas, the partition controller steps it down), and so does a new agent version.
"""

from __future__ import annotations

from typing import Any

import pytest

from moco.api import names
from moco.controllers import reconcileversion
from moco.controllers.containers import AGENT_IMAGE, Images
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.controllers.statefulset import ANN_TEMPLATE_HASH
from moco.controllers.status import RECONCILE_VERSION
from moco.kube.client import Client
from moco.kube.resource import NAMESPACES, SERVICES, STATEFULSETS
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import cluster_manifest, eventually, get_or_none, running_controller
from unit_tests.controllers.test_template_stability import RELEASE_A, RELEASE_B, images_of_release

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(240)]

NEW_AGENT = Images(agent="localhost/moco/moco-agent:99.0.0")
#: a release from before the agent image was versioned apart: the agent ran the controller's image
OLD_RELEASE = Images(agent="localhost/moco/moco:src-0ld0ld0ld0ld")


def _template_hash(sts: dict[str, Any]) -> str:
    return str(sts["metadata"]["annotations"][ANN_TEMPLATE_HASH])


def _partition(sts: dict[str, Any]) -> int:
    return int(sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"])


async def test_a_new_controller_release_writes_nothing_to_the_statefulset(
    apiserver: Envtest, kube: Client, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    release_a = images_of_release(RELEASE_A, monkeypatch)
    release_b = images_of_release(RELEASE_B, monkeypatch)
    assert release_a.backup_image != release_b.backup_image
    assert release_a.agent == release_b.agent == AGENT_IMAGE
    ns = namespace
    sysns = f"{ns}-sys"[:63]
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": sysns}})
    sts_name = names.prefixed_name("test")

    async def reconciled(after: int = 0) -> dict[str, Any] | None:
        """The cluster once its current generation (> ``after``) is reconciled successfully."""
        c = await kube.get(MYSQLCLUSTERS, "test", ns)
        status = c.get("status") or {}
        generation = c["metadata"]["generation"]
        ok = any(
            x["type"] == "ReconcileSuccess" and x["status"] == "True" for x in status.get("conditions") or []
        )
        done = (status.get("reconcileInfo") or {}).get("generation") == generation
        return c if ok and done and generation > after else None

    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns, images=release_a):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3))
        first = await eventually(reconciled, "release A reconciled the cluster")
        before = await kube.get(STATEFULSETS, sts_name, ns)

    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns, images=release_b):
        # something the user declares that is no part of the Pod template: B must apply it
        await kube.patch(
            MYSQLCLUSTERS,
            "test",
            {"spec": {"primaryServiceTemplate": {"metadata": {"labels": {"release": "b"}}}}},
            ns,
        )

        async def labelled() -> bool:
            svc = await get_or_none(kube, SERVICES, names.primary_service_name("test"), ns)
            return bool(svc and (svc["metadata"].get("labels") or {}).get("release") == "b")

        await eventually(labelled, "release B applied the Service template")
        await eventually(
            lambda: reconciled(first["metadata"]["generation"]), "release B reconciled the change"
        )
        after = await kube.get(STATEFULSETS, sts_name, ns)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], (
            "release B wrote the StatefulSet: every mysqld Pod would restart on an operator upgrade"
        )
        assert after["spec"]["template"] == before["spec"]["template"]
        assert _partition(after) == 0

        # what the user declares in the Pod template rolls, partitioned (one Pod at a time)
        await kube.patch(
            MYSQLCLUSTERS,
            "test",
            {"spec": {"podTemplate": {"metadata": {"annotations": {"example.com/rev": "2"}}}}},
            ns,
        )

        async def rolled(old_hash: str) -> dict[str, Any] | None:
            sts = await kube.get(STATEFULSETS, sts_name, ns)
            return sts if _template_hash(sts) != old_hash else None

        user_rolled = await eventually(
            lambda: rolled(_template_hash(after)), "the user's change reached the template"
        )
        assert user_rolled["spec"]["template"]["metadata"]["annotations"]["example.com/rev"] == "2"
        assert _partition(user_rolled) == 3, "a template change must start a partitioned rolling update"

    # the agent's own contract: a new agent version rolls too
    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns, images=NEW_AGENT):
        agent_rolled = await eventually(
            lambda: rolled(_template_hash(user_rolled)), "the new agent image reached the template"
        )
        images = {c["name"]: c["image"] for c in agent_rolled["spec"]["template"]["spec"]["containers"]}
        assert images["agent"] == NEW_AGENT.agent


async def test_a_cluster_an_earlier_moco_reconciled_keeps_its_pods_until_its_spec_changes(
    apiserver: Envtest, kube: Client, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconcile version 1: moco before the agent image was versioned on its own gave the agent the
    controller's image and recorded ``reconcileVersion: 1``; this release keeps that image (and every
    Pod) until the user changes the cluster (:mod:`moco.controllers.reconcileversion`)."""
    ns = namespace
    sysns = f"{ns}-sys"[:63]
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": sysns}})
    sts_name = names.prefixed_name("test")
    key = f"{ns}/test"

    async def recorded() -> dict[str, Any]:
        c = await kube.get(MYSQLCLUSTERS, "test", ns)
        return (c.get("status") or {}).get("reconcileInfo") or {}  # type: ignore[no-any-return]

    # the earlier release: its own image in the agent's place, version 1 recorded; it did not mount
    # mysqld's certificate (that came with version 3) and probed its start every 10 s (version 4)
    monkeypatch.setattr(reconcileversion, "MOCO_TLS_SINCE", 10**6)
    monkeypatch.setattr(reconcileversion, "FAST_STARTUP_PROBE_SINCE", 10**6)
    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns, images=OLD_RELEASE):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3))
        await eventually(
            lambda: get_or_none(kube, STATEFULSETS, sts_name, ns), "the earlier release's StatefulSet"
        )

        async def settled() -> dict[str, Any] | None:
            c = await kube.get(MYSQLCLUSTERS, "test", ns)
            info = (c.get("status") or {}).get("reconcileInfo") or {}
            return c if info.get("generation") == c["metadata"]["generation"] else None

        cluster = await eventually(settled, "the earlier release reconciled the cluster")

    def as_version_1(o: dict[str, Any]) -> bool:
        o.setdefault("status", {})["reconcileInfo"] = {
            "generation": cluster["metadata"]["generation"],
            "reconcileVersion": 1,
        }
        return True

    await kube.update_status_with_retry(MYSQLCLUSTERS, "test", ns, as_version_1)
    before = await kube.get(STATEFULSETS, sts_name, ns)
    monkeypatch.undo()  # this release

    async with running_controller(apiserver.kubeconfig, sysns, watch_namespace=ns, images=Images()) as wiring:

        async def cached_version_1() -> bool:
            c = wiring.reconciler.clusters.get(key)
            return bool(
                c and ((c.get("status") or {}).get("reconcileInfo") or {}).get("reconcileVersion") == 1
            )

        await eventually(cached_version_1, "the new release's cache holds the recorded version")
        for _ in range(3):  # reconciles of the same generation, as the informer's resyncs bring them
            await wiring.reconciler.reconcile(key)
        after = await kube.get(STATEFULSETS, sts_name, ns)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], (
            "the new release re-rendered a version-1 cluster: its Pods would restart on the upgrade"
        )
        assert (await recorded())["reconcileVersion"] == 1

        # the user changes the cluster: the latest version, the versioned agent image, one rollout
        await kube.patch(
            MYSQLCLUSTERS, "test", {"spec": {"podTemplate": {"metadata": {"labels": {"x": "1"}}}}}, ns
        )

        async def latest() -> dict[str, Any] | None:
            sts = await kube.get(STATEFULSETS, sts_name, ns)
            agent = next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "agent")
            return sts if agent["image"] == AGENT_IMAGE else None

        rolled = await eventually(latest, "the changed cluster reached the latest version")
        assert _partition(rolled) == 3
        await eventually(
            lambda: _has_version(recorded, RECONCILE_VERSION), "reconcileInfo records the latest version"
        )


async def _has_version(recorded: Any, version: int) -> bool:
    return bool((await recorded()).get("reconcileVersion") == version)
