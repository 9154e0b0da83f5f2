"""MOCO's --pvc-sync-label-keys / --pvc-sync-annotation-keys on a real kube-apiserver (+
kube-controller-manager, whose StatefulSet controller makes the claims): rule 5 of
:mod:`moco.controllers.volumes`, carried out by the reconciler."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.resource import PERSISTENTVOLUMECLAIMS, STATEFULSETS
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import cluster_manifest, condition, eventually, running_controller

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]

POLICY = "backup.example.com/policy"


def templates(labels: dict[str, str], annotations: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "metadata": {"name": "mysql-data", "labels": labels, "annotations": annotations},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }
    ]


async def claims(kube: Client, ns: str) -> dict[str, dict[str, Any]]:
    items, _ = await kube.list_all(PERSISTENTVOLUMECLAIMS, ns)
    return {p["metadata"]["name"]: p["metadata"] for p in items}


async def test_synced_keys_follow_the_templates_and_nothing_else_moves(
    controller_manager: Envtest, kube: Client, namespace: str
) -> None:
    ns = namespace
    async with running_controller(controller_manager.kubeconfig, ns, watch_namespace=ns) as wiring:
        wiring.reconciler.cfg = dataclasses.replace(
            wiring.reconciler.cfg, pvc_sync_label_keys=("team",), pvc_sync_annotation_keys=(POLICY,)
        )
        vct = templates({"team": "a", "tier": "1"}, {POLICY: "daily", "note": "n1"})
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, volumeClaimTemplates=vct))

        async def made() -> dict[str, dict[str, Any]] | None:
            got = await claims(kube, ns)
            return got if len(got) == 3 else None

        first = await eventually(made, "the StatefulSet controller made 3 claims", within=60)
        assert {m["labels"]["team"] for m in first.values()} == {"a"}
        # metadata someone else keeps on a claim
        await kube.patch(
            PERSISTENTVOLUMECLAIMS, "mysql-data-moco-test-0", {"metadata": {"labels": {"owner": "me"}}}, ns
        )
        sts = await kube.get(STATEFULSETS, "moco-test", ns)

        vct = templates({"team": "b", "tier": "2"}, {POLICY: "weekly", "note": "n2"})
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"volumeClaimTemplates": vct}}, ns)

        async def synced() -> dict[str, dict[str, Any]] | None:
            got = await claims(kube, ns)
            ok = all(
                m["labels"].get("team") == "b" and (m.get("annotations") or {}).get(POLICY) == "weekly"
                for m in got.values()
            )
            return got if ok and len(got) == 3 else None

        after = await eventually(synced, "the synced keys on every claim")
        for name, meta in after.items():
            assert meta["labels"]["tier"] == "1", f"{name}: a label no flag names was changed"
            assert meta["annotations"]["note"] == "n1", f"{name}: an annotation no flag names was changed"
        assert after["mysql-data-moco-test-0"]["labels"]["owner"] == "me"

        async def recreated_and_reconciled() -> bool:
            s = await kube.get(STATEFULSETS, "moco-test", ns)
            obj = await kube.get(MYSQLCLUSTERS, "test", ns)
            c = condition(obj, "ReconcileSuccess")
            info = (obj.get("status") or {}).get("reconcileInfo") or {}
            return bool(
                s["metadata"]["uid"] != sts["metadata"]["uid"]
                and c
                and c["status"] == "True"
                and info.get("generation") == obj["metadata"]["generation"]
            )

        # the StatefulSet carries the new templates (claims made from now on get them all)
        await eventually(recreated_and_reconciled, "StatefulSet re-created, reconcile succeeded")

        # a key dropped from the template is left on the claims (MOCO never removes)
        vct = templates({"tier": "2"}, {POLICY: "weekly", "note": "n2"})
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"volumeClaimTemplates": vct}}, ns)
        obj = await kube.get(MYSQLCLUSTERS, "test", ns)

        async def reconciled_gen() -> bool:
            o = await kube.get(MYSQLCLUSTERS, "test", ns)
            info = (o.get("status") or {}).get("reconcileInfo") or {}
            return bool(info.get("generation") == obj["metadata"]["generation"])

        await eventually(reconciled_gen, "the template change reconciled")
        assert {m["labels"].get("team") for m in (await claims(kube, ns)).values()} == {"b"}


async def test_no_keys_no_sync(controller_manager: Envtest, kube: Client, namespace: str) -> None:
    """MOCO's default: the flags empty, claims keep what the StatefulSet controller gave them."""
    ns = namespace
    async with running_controller(controller_manager.kubeconfig, ns, watch_namespace=ns):
        vct = templates({"team": "a"}, {POLICY: "daily"})
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, volumeClaimTemplates=vct))

        async def made() -> dict[str, dict[str, Any]] | None:
            got = await claims(kube, ns)
            return got if len(got) == 3 else None

        await eventually(made, "3 claims", within=60)
        sts = await kube.get(STATEFULSETS, "moco-test", ns)
        vct = templates({"team": "b"}, {POLICY: "weekly"})
        await kube.patch(MYSQLCLUSTERS, "test", {"spec": {"volumeClaimTemplates": vct}}, ns)

        async def recreated() -> bool:
            s = await kube.get(STATEFULSETS, "moco-test", ns)
            return bool(s["metadata"]["uid"] != sts["metadata"]["uid"])

        await eventually(recreated, "StatefulSet re-created with the new templates")
        got = await claims(kube, ns)
        assert {m["labels"]["team"] for m in got.values()} == {"a"}
        assert {m["annotations"][POLICY] for m in got.values()} == {"daily"}
