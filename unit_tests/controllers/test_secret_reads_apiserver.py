"""The clustering loop's Secret reads against a real kube-apiserver: cached, and MOCO's keys.

The controller runs in-process (manager, informers, reconciler, clustering registry) in
namespace-scoped mode, the controller's namespace being the watched one (as the namespaced
overlay deploys it). The cluster has no Pods, so its loop idles; the tests call the loop's
Kubernetes side (the one :func:`moco.controllers.setup.setup` built) as passes do, and count
the GETs the client sends (a counting wrapper around ``Client.get``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from moco.clustering.config import ProcessConfig
from moco.clustering.errors import GatherError
from moco.controllers.containers import Images
from moco.controllers.kubeside import COND_SOURCE_SECRET, EV_SOURCE_SECRET_INVALID, ClusterKubeSide
from moco.controllers.reconciler import MYSQLCLUSTERS, ReconcilerConfig
from moco.controllers.setup import Wiring, setup
from moco.kube.client import Client
from moco.kube.manager import Manager, ManagerOptions
from moco.kube.resource import EVENTS, SECRETS, Resource
from moco.kube.store import Store
from moco.testing.envtest import Envtest
from unit_tests.controllers.harness import cluster_manifest, condition, eventually

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(180)]

MOCO_SOURCE = {
    "HOST": "source.example.svc",
    "PORT": "3306",
    "USER": "clone-user",
    "PASSWORD": "clone-pw",
    "INIT_USER": "init-user",
    "INIT_PASSWORD": "init-pw",
}


def secret(ns: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


class Counted:
    """Counts the GETs a client sends, per (resource, namespace, name)."""

    def __init__(self, client: Client) -> None:
        self.gets: list[tuple[str, str | None, str]] = []
        orig = client.get

        async def get(res: Resource, name: str, namespace: str | None = None, **kw: Any) -> Any:
            self.gets.append((res.plural, namespace, name))
            return await orig(res, name, namespace, **kw)

        client.get = get  # type: ignore[method-assign]

    def secret_gets(self, ns: str, name: str) -> int:
        return self.gets.count(("secrets", ns, name))


@asynccontextmanager
async def controller(apiserver: Envtest, ns: str) -> AsyncIterator[tuple[Wiring, Counted]]:
    client = await Client.from_kubeconfig(apiserver.kubeconfig, qps=200, burst=400)
    counted = Counted(client)
    mgr = Manager(client, ManagerOptions(namespace=ns, http_address=None, handle_signals=False))
    cfg = ReconcilerConfig(system_namespace=ns, images=Images(agent="moco:test"))
    wiring = setup(mgr, client, cfg, clustering=ProcessConfig(interval=3600.0), workers=2)
    task = asyncio.create_task(mgr.run())
    try:
        yield wiring, counted
    finally:
        mgr.stop()
        async with asyncio.timeout(30):
            code = await task
        await client.close()
        assert code == 0, mgr.exit_reason


async def side_of(wiring: Wiring, ns: str, name: str = "test") -> ClusterKubeSide:
    """The loop's side, once the reconcile has started the loop and the controller Secret is cached."""
    assert wiring.clustering is not None

    async def started() -> ClusterKubeSide | None:
        assert wiring.clustering is not None
        proc = wiring.clustering.get(ns, name)
        if proc is None:
            return None
        side = proc.kube
        assert isinstance(side, ClusterKubeSide)
        assert side.secrets is not None
        return side if side.secrets.get(f"{ns}/mysql-{ns}.{name}") is not None else None

    return await eventually(started, "clustering loop started and controller Secret cached")


async def test_passes_do_not_get_secrets(apiserver: Envtest, kube: Client, namespace: str) -> None:
    ns, passes = namespace, 40
    await kube.create(SECRETS, secret(ns, "source", MOCO_SOURCE))
    async with controller(apiserver, ns) as (wiring, counted):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicationSourceSecretName="source"))
        side = await side_of(wiring, ns)
        before_ctrl = counted.secret_gets(ns, f"mysql-{ns}.test")
        before_src = counted.secret_gets(ns, "source")
        for _ in range(passes):
            creds = await side.get_credentials()
            token = await side.agent_token()
            src = await side.get_replication_source("source")
        assert creds.admin
        assert token
        assert src.host == "source.example.svc"
        ctrl_gets = counted.secret_gets(ns, f"mysql-{ns}.test") - before_ctrl
        src_gets = counted.secret_gets(ns, "source") - before_src
        # the reconciler reads the controller Secret itself when it reconciles: allow a few
        assert ctrl_gets <= 3, f"{passes} passes sent {ctrl_gets} GETs of the controller Secret"
        assert src_gets <= 1, f"{passes} passes sent {src_gets} GETs of the replication-source Secret"


async def test_moco_source_keys(apiserver: Envtest, kube: Client, namespace: str) -> None:
    """MOCO's replication-source Secret (HOST, PORT, USER, PASSWORD, INIT_USER, INIT_PASSWORD)."""
    ns = namespace
    await kube.create(SECRETS, secret(ns, "source", MOCO_SOURCE))
    async with controller(apiserver, ns) as (wiring, _):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicationSourceSecretName="source"))
        side = await side_of(wiring, ns)
        src = await side.get_replication_source("source")
        assert (src.host, src.port) == ("source.example.svc", 3306)
        assert (src.user, src.password) == ("clone-user", "clone-pw")
        assert (src.clone_user, src.clone_password) == ("clone-user", "clone-pw")
        assert (src.init_after_clone_user, src.init_after_clone_password) == ("init-user", "init-pw")
        obj = await kube.get(MYSQLCLUSTERS, "test", ns)
        c = condition(obj, COND_SOURCE_SECRET)
        assert c is not None
        assert c["status"] == "True"


async def test_missing_source_key_is_reported(apiserver: Envtest, kube: Client, namespace: str) -> None:
    ns = namespace
    await kube.create(
        SECRETS, secret(ns, "source", {k: v for k, v in MOCO_SOURCE.items() if k != "INIT_PASSWORD"})
    )
    async with controller(apiserver, ns) as (wiring, _):
        await kube.create(MYSQLCLUSTERS, cluster_manifest(ns, replicationSourceSecretName="source"))
        side = await side_of(wiring, ns)
        for _ in range(3):
            with pytest.raises(Exception, match="INIT_PASSWORD"):
                await side.get_replication_source("source")
        obj = await kube.get(MYSQLCLUSTERS, "test", ns)
        c = condition(obj, COND_SOURCE_SECRET)
        assert c is not None
        assert c["status"] == "False"
        assert c["reason"] == "KeyMissing"
        assert "INIT_PASSWORD" in c["message"]
        events, _ = await kube.list_all(EVENTS, ns)
        mine = [e for e in events if e["reason"] == EV_SOURCE_SECRET_INVALID]
        assert len(mine) == 1
        assert "INIT_PASSWORD" in mine[0]["message"]
        # the fixed Secret is used by the very next pass (a Secret in trouble is not cached)
        fixed = base64.b64encode(b"init-pw").decode()
        await kube.patch(SECRETS, "source", {"data": {"INIT_PASSWORD": fixed}}, ns)
        src = await side.get_replication_source("source")
        assert src.init_after_clone_password == "init-pw"
        c = condition(await kube.get(MYSQLCLUSTERS, "test", ns), COND_SOURCE_SECRET)
        assert c is not None
        assert c["status"] == "True"


async def test_a_missing_controller_secret_is_a_gather_error(kube: Client, namespace: str) -> None:
    """A new cluster's loop starts before its reconcile created the controller Secret: the pass
    fails as an expected wait (a warning, retried), naming the Secret, not as a bug with a
    traceback (as every new cluster's first pass logged)."""
    side = ClusterKubeSide(kube, Store(), Store(), namespace, "fresh", namespace)
    with pytest.raises(GatherError, match=rf"{namespace}/mysql-{namespace}\.fresh does not exist yet"):
        await side.get_credentials()
