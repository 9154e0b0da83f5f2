"""``moco-controller`` as a process, with nothing but the RBAC of ``manifests/rbac``.

The process authenticates as its ServiceAccount's user name (a client certificate minted by the
test CA) and holds only the rights the manifests bind to that ServiceAccount:

* namespace-scoped: the Role of ``rbac/namespaced`` in its own namespace, where it watches,
  keeps its Secrets and its Lease;
* cluster-wide: the ClusterRole of ``rbac/cluster-wide`` and the leader-election Role in its
  namespace; the MySQLCluster lives in another namespace.

Each run elects itself leader, reconciles a cluster, runs the cluster's clustering loop (which
writes its own conditions through the same rights), finalizes the cluster on deletion, logs no
Forbidden, and ends with exit code 0 on SIGTERM.
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

from moco import constants
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import (
    LEASES,
    NAMESPACES,
    SECRETS,
    SERVICEACCOUNTS,
    STATEFULSETS,
)
from moco.testing import ground
from moco.testing.envtest import Envtest, free_port
from moco.testing.rbac import KINDS, controller_kubeconfig, rbac_docs
from unit_tests.controllers.harness import cluster_manifest, condition, eventually, get_or_none

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(300)]


@pytest.fixture
async def short_namespace(kube: Client) -> AsyncIterator[str]:
    """A namespace with a short name (a certificate's common name holds at most 64 characters)."""
    name = f"mocons-{secrets.token_hex(3)}"
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    await kube.delete(NAMESPACES, name)


def _quiet(fn: Any) -> Any:
    async def probe() -> bool:
        try:
            return bool(await fn())
        except aiohttp.ClientError:
            return False

    return probe


async def run_program_once(
    env_test: Envtest, kube: Client, sysns: str, cluster_ns: str, watch: str | None, log: Path
) -> None:
    kubeconfig = controller_kubeconfig(env_test, sysns)
    port = free_port()
    env = {**os.environ, "POD_NAMESPACE": sysns, "MOCO_LOG_LEVEL": "INFO"}
    env.pop("KUBECONFIG", None)
    env.pop("MOCO_WATCH_NAMESPACE", None)
    if watch is not None:
        env["MOCO_WATCH_NAMESPACE"] = watch
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
            # no Job controller here: a my.cnf validation Job would never finish
            "--no-validate-mycnf",
        ],
        "moco-controller (test)",
        log=log,
        env=env,
    )
    try:

        async def ready() -> bool:
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/readyz") as r:
                return r.status == 200

        await eventually(_quiet(ready), "controller ready", within=60)
        await kube.create(MYSQLCLUSTERS, cluster_manifest(cluster_ns, replicas=3))

        async def reconciled() -> dict[str, Any] | None:
            obj = await kube.get(MYSQLCLUSTERS, "test", cluster_ns)
            ok = condition(obj, "ReconcileSuccess")
            healthy = condition(obj, "Healthy")  # written by the clustering loop
            return obj if ok and ok["status"] == "True" and healthy else None

        obj = await eventually(reconciled, "reconciled and clustered", within=60)
        assert condition(obj, "ClusteringActive")["status"] == "True"  # type: ignore[index]
        assert await get_or_none(kube, STATEFULSETS, "moco-test", cluster_ns) is not None
        assert await get_or_none(kube, SECRETS, f"mysql-{cluster_ns}.test", sysns) is not None
        lease = await kube.get(LEASES, "moco", sysns)
        assert lease["spec"]["holderIdentity"]

        await kube.delete(MYSQLCLUSTERS, "test", cluster_ns)

        async def finalized() -> bool:
            return await get_or_none(kube, MYSQLCLUSTERS, "test", cluster_ns) is None

        await eventually(finalized, "finalizer removed", within=60)
        assert await get_or_none(kube, SECRETS, f"mysql-{cluster_ns}.test", sysns) is None
    finally:
        await asyncio.to_thread(ground.stop, rec, proc, 30.0)
    text = await asyncio.to_thread(log.read_text)
    assert proc.returncode == 0, text[-3000:]
    # no permission missing (a namespace being deleted by another test also answers Forbidden)
    assert "forbidden: User" not in text, text[-3000:]


async def test_namespaced_controller_with_only_its_role(
    controller_manager: Envtest, kube: Client, short_namespace: str, tmp_path: Path
) -> None:
    ns = short_namespace
    for doc in rbac_docs("namespaced", ns):
        await kube.create(KINDS[doc["kind"]], doc)
    # the identity is scoped: nothing outside its namespace
    user = f"system:serviceaccount:{ns}:moco-controller"
    kubeconfig = controller_manager.mint_kubeconfig(user, ["system:serviceaccounts"])
    async with await Client.from_kubeconfig(kubeconfig) as scoped:
        with pytest.raises(errors.Forbidden):
            await scoped.list(SECRETS, None)
        with pytest.raises(errors.Forbidden):
            await scoped.list(SERVICEACCOUNTS, "default")
    await run_program_once(controller_manager, kube, ns, ns, ns, tmp_path / "controller.log")


async def test_cluster_wide_controller_with_the_cluster_role(
    controller_manager: Envtest, kube: Client, short_namespace: str, namespace: str, tmp_path: Path
) -> None:
    docs = rbac_docs("cluster-wide", short_namespace)
    for doc in docs:
        await kube.create(KINDS[doc["kind"]], doc)
    try:
        await run_program_once(
            controller_manager, kube, short_namespace, namespace, None, tmp_path / "controller.log"
        )
    finally:
        for doc in docs:
            if doc["kind"].startswith("Cluster"):
                await kube.delete(KINDS[doc["kind"]], doc["metadata"]["name"])
        await release_other_clusters(kube)


async def release_other_clusters(kube: Client) -> None:
    """A cluster-wide controller also finalizes the clusters of other tests of the session: drop
    the finalizer it left on those, so that their namespaces can go once it is stopped."""
    items, _ = await kube.list_all(MYSQLCLUSTERS)
    for obj in items:
        fins = obj["metadata"].get("finalizers") or []
        if constants.FINALIZER in fins:
            patch = [
                {
                    "op": "replace",
                    "path": "/metadata/finalizers",
                    "value": [f for f in fins if f != constants.FINALIZER],
                }
            ]
            try:
                await kube.patch(
                    MYSQLCLUSTERS,
                    obj["metadata"]["name"],
                    patch,
                    obj["metadata"]["namespace"],
                    patch_type="json",
                )
            except errors.NotFound:
                pass
