"""A namespace-scoped manager that has nothing but a Role in its namespace."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from moco.kube import errors
from moco.kube.client import Client
from moco.kube.controller import Controller, Result
from moco.kube.leaderelection import LeaderElectionConfig
from moco.kube.manager import Manager, ManagerOptions
from moco.kube.resource import CONFIGMAPS, LEASES, ROLEBINDINGS, ROLES
from moco.testing.envtest import Envtest
from unit_tests.fixtures.apiserver import WIDGETS

pytestmark = pytest.mark.apiserver

USER = "scoped-manager"


async def grant_role(kube: Client, namespace: str) -> None:
    rules = [
        {"apiGroups": ["test.moco.io"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["test.moco.io"], "resources": ["widgets/status"], "verbs": ["get", "update"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "list", "watch", "create", "patch"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    ]
    meta = {"name": "manager", "namespace": namespace}
    await kube.create(
        ROLES,
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": rules},
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "manager"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    }
    await kube.create(ROLEBINDINGS, binding)


def widget(ns: str, name: str, size: int) -> dict[str, Any]:
    return {
        "apiVersion": WIDGETS.api_version,
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"size": size},
    }


async def test_namespace_scoped_manager_works_with_only_a_role(
    apiserver: Envtest, kube: Client, namespace: str
) -> None:
    await grant_role(kube, namespace)
    await kube.create(WIDGETS, widget(namespace, "w1", 1))
    scoped = await Client.from_kubeconfig(apiserver.mint_kubeconfig(USER))
    try:
        with pytest.raises(errors.Forbidden):
            await scoped.list(WIDGETS)  # cluster-wide: not granted
        le = LeaderElectionConfig(namespace=namespace, name="scoped-manager", identity="only-one")
        mgr = Manager(
            scoped,
            ManagerOptions(
                namespace=namespace, leader_election=le, http_address=("127.0.0.1", 0), handle_signals=False
            ),
        )
        widgets = mgr.informer(WIDGETS)
        owned = mgr.informer(CONFIGMAPS)

        async def reconcile(key: str) -> Result | None:
            obj = widgets.store.get(key)
            if obj is None:
                return None
            ns, name = key.split("/")
            size = obj["spec"]["size"]
            cm: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{name}-data", "namespace": ns},
            }
            cm["metadata"]["ownerReferences"] = [
                {
                    "apiVersion": WIDGETS.api_version,
                    "kind": "Widget",
                    "name": name,
                    "uid": obj["metadata"]["uid"],
                    "controller": True,
                }
            ]
            cm["data"] = {"size": str(size)}
            await scoped.apply(CONFIGMAPS, cm, field_manager="moco-test")

            def set_status(o: dict[str, Any]) -> bool:
                if (o.get("status") or {}).get("observed") == size:
                    return False
                o["status"] = {"observed": size, "ready": True}
                return True

            await scoped.update_status_with_retry(WIDGETS, name, ns, set_status)
            return None

        ctl = Controller("widget", reconcile, workers=2)
        ctl.watch(widgets)
        ctl.watch_owned(owned, "Widget", "test.moco.io")
        mgr.add_controller(ctl)
        run = asyncio.create_task(mgr.run())

        async def observed(name: str, size: int) -> bool:
            try:
                w = await kube.get(WIDGETS, name, namespace)
                c = await kube.get(CONFIGMAPS, f"{name}-data", namespace)
            except errors.NotFound:
                return False
            return (w.get("status") or {}).get("observed") == size and c["data"]["size"] == str(size)

        async def until(name: str, size: int) -> None:
            deadline = time.monotonic() + 20
            while not await observed(name, size):
                assert not run.done(), run.result()
                assert time.monotonic() < deadline, f"{name} not reconciled to {size}"
                await asyncio.sleep(0.1)

        await until("w1", 1)
        await kube.create(WIDGETS, widget(namespace, "w2", 5))
        await kube.patch(WIDGETS, "w1", {"spec": {"size": 7}}, namespace)
        await until("w2", 5)
        await until("w1", 7)
        # an owned object changed by someone else is put back (owner mapping -> reconcile)
        await kube.patch(CONFIGMAPS, "w2-data", {"data": {"size": "tampered"}}, namespace)
        await until("w2", 5)

        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{mgr.http_port}"
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 200
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
        assert 'controller_runtime_reconcile_total{controller="widget",result="success"}' in text
        assert 'workqueue_depth{name="widget"}' in text
        assert 'leader_election_master_status{name="scoped-manager"} 1.0' in text

        mgr.stop()
        assert await asyncio.wait_for(run, 20) == 0
        lease = await kube.get(LEASES, "scoped-manager", namespace)
        assert lease["spec"].get("holderIdentity", "") == "", "released on clean stop"
    finally:
        await scoped.close()
