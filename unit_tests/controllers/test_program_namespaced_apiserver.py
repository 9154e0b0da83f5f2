"""``moco-controller`` as a process, namespace-scoped, with nothing but the Role from manifests/.

The process authenticates as its ServiceAccount's user name (a client certificate minted by the
test CA), bound by the RoleBinding of ``manifests/rbac/namespaced`` to its Role; it elects
itself leader through a Lease in its namespace, reconciles a cluster there, runs the cluster's
clustering loop (which writes its own conditions through the same permissions), and ends with
exit code 0 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import LEASES, NAMESPACES, ROLEBINDINGS, ROLES, SECRETS, SERVICEACCOUNTS, STATEFULSETS
from moco.testing import ground
from moco.testing.envtest import Envtest, free_port
from unit_tests.controllers.harness import cluster_manifest, condition, eventually, get_or_none

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]

RBAC = Path(__file__).parents[2] / "manifests" / "rbac" / "namespaced"


def namespaced_rbac(ns: str) -> list[dict[str, Any]]:
    """The Role and RoleBinding of the manifests, moved into ``ns``."""
    docs = []
    for f in ("role.yaml", "rolebinding.yaml"):
        for d in yaml.safe_load_all((RBAC / f).read_text()):
            d["metadata"]["namespace"] = ns
            for s in d.get("subjects") or []:
                s["namespace"] = ns
            docs.append(d)
    return docs


@pytest.fixture
async def short_namespace(kube: Client) -> AsyncIterator[str]:
    """A namespace with a short name (a certificate's common name holds at most 64 characters)."""
    name = f"mocons-{secrets.token_hex(3)}"
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    await kube.delete(NAMESPACES, name)


async def test_namespaced_controller_with_only_its_role(
    controller_manager: Envtest, kube: Client, short_namespace: str, tmp_path: Path
) -> None:
    ns = short_namespace
    for doc in namespaced_rbac(ns):
        await kube.create(ROLES if doc["kind"] == "Role" else ROLEBINDINGS, doc)
    user = f"system:serviceaccount:{ns}:moco-controller"
    kubeconfig = controller_manager.mint_kubeconfig(
        user, ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    )
    # the identity is scoped: nothing outside its namespace
    async with await Client.from_kubeconfig(kubeconfig) as scoped:
        with pytest.raises(errors.Forbidden):
            await scoped.list(SECRETS, None)
        with pytest.raises(errors.Forbidden):
            await scoped.list(SERVICEACCOUNTS, "default")

    port = free_port()
    env = {**os.environ, "MOCO_WATCH_NAMESPACE": ns, "POD_NAMESPACE": ns, "MOCO_LOG_LEVEL": "INFO"}
    env.pop("KUBECONFIG", None)
    log = tmp_path / "controller.log"
    proc, rec = ground.spawn(
        [
            sys.executable,
            "-m",
            "moco.cli.controller",
            f"--kubeconfig={kubeconfig}",
            f"--http-bind-address=127.0.0.1:{port}",
            "--leader-elect",
            "--check-interval=2",
            "--agent-image=moco:test",
        ],
        "moco-controller (namespaced test)",
        log=log,
        env=env,
    )
    try:

        async def ready() -> bool:
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/readyz") as r:
                return r.status == 200

        await eventually(_quiet(ready), "controller ready", within=60)
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicas=3))

        async def reconciled() -> dict[str, Any] | None:
            obj = await kube.get(MYSQLCLUSTERS, "test", ns)
            ok = condition(obj, "ReconcileSuccess")
            healthy = condition(obj, "Healthy")  # written by the clustering loop
            return obj if ok and ok["status"] == "True" and healthy else None

        obj = await eventually(reconciled, "reconciled and clustered", within=60)
        assert condition(obj, "ClusteringActive")["status"] == "True"  # type: ignore[index]
        assert await get_or_none(kube, STATEFULSETS, "moco-test", ns) is not None
        # the controller Secret lives in the controller's own namespace here
        assert await get_or_none(kube, SECRETS, f"mysql-{ns}.test", ns) is not None
        lease = await kube.get(LEASES, "moco", ns)
        assert lease["spec"]["holderIdentity"]

        await kube.delete(MYSQLCLUSTERS, "test", ns)

        async def finalized() -> bool:
            return await get_or_none(kube, MYSQLCLUSTERS, "test", ns) is None

        await eventually(finalized, "finalizer removed", within=60)
        assert await get_or_none(kube, SECRETS, f"mysql-{ns}.test", ns) is None
    finally:
        await asyncio.to_thread(ground.stop, rec, proc, 30.0)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "Forbidden" not in text, text[-3000:]


def _quiet(fn: Any) -> Any:
    async def probe() -> bool:
        try:
            return bool(await fn())
        except aiohttp.ClientError:
            return False

    return probe
