"""The controller run in-process against the apiserver tier, and polling helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from moco.controllers.containers import Images
from moco.controllers.reconciler import MYSQLCLUSTERS, ReconcilerConfig
from moco.controllers.setup import Wiring, setup
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.leaderelection import LeaderElectionConfig
from moco.kube.manager import Manager, ManagerOptions
from moco.kube.resource import Resource

T = TypeVar("T")


class Recorder:
    """A stand-in clustering registry recording what the reconciler asks of it."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str]] = []
        self.stops: list[tuple[str, str]] = []

    def update(self, namespace: str, name: str) -> object:
        self.updates.append((namespace, name))
        return None

    async def stop(self, namespace: str, name: str) -> None:
        self.stops.append((namespace, name))


@asynccontextmanager
async def running_controller(
    kubeconfig: Path,
    system_namespace: str,
    *,
    watch_namespace: str | None = None,
    lease: bool = False,
    registry: Recorder | None = None,
    images: Images | None = None,
) -> AsyncIterator[Wiring]:
    """moco's controllers on a manager, stopped (and checked to stop cleanly) afterwards.

    ``images``: those of the controller's configuration (default: agent ``moco:test``)."""
    client = await Client.from_kubeconfig(kubeconfig, qps=200, burst=400)
    election = (
        LeaderElectionConfig(system_namespace, "moco", "test-controller", 4.0, 3.0, 0.5) if lease else None
    )
    mgr = Manager(
        client,
        ManagerOptions(
            namespace=watch_namespace, leader_election=election, http_address=None, handle_signals=False
        ),
    )
    cfg = ReconcilerConfig(system_namespace=system_namespace, images=images or Images(agent="moco:test"))
    wiring = setup(mgr, client, cfg, enable_clustering=False, workers=2)
    wiring.reconciler.clustering = registry
    task = asyncio.create_task(mgr.run())
    try:
        yield wiring
    finally:
        mgr.stop()
        async with asyncio.timeout(30):
            code = await task
        await client.close()
        assert code == 0, mgr.exit_reason


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = 30.0, interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    last: Any = None
    while True:
        try:
            value = await probe()
            if value:
                return value
            last = value
        except (errors.KubeError, KeyError, AssertionError) as e:
            last = e
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {within}s (last: {last!r})")
        await asyncio.sleep(interval)


async def get_or_none(kube: Client, res: Resource, name: str, ns: str | None) -> dict[str, Any] | None:
    try:
        return await kube.get(res, name, ns)
    except errors.NotFound:
        return None


def cluster_manifest(ns: str, name: str = "test", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": replicas,
        "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": "mysql:test"}]}},
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "mysql-data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ],
    }
    body.update(spec)
    return {
        "apiVersion": MYSQLCLUSTERS.api_version,
        "kind": "MySQLCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": body,
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)
