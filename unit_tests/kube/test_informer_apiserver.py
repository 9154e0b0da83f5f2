"""The informer against a real kube-apiserver: order of events, cut watches, 410 Gone, silence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlparse

import pytest

from moco.kube.client import Client
from moco.kube.handlers import FuncHandler
from moco.kube.informer import Informer
from moco.kube.ratelimit import Backoff
from moco.kube.resource import CONFIGMAPS
from moco.kube.store import Obj
from moco.testing.envtest import Envtest
from unit_tests.fixtures.apiserver import WIDGETS
from unit_tests.kube.proxy import Proxy

pytestmark = pytest.mark.apiserver


class Recorder:
    """Records handler calls as (event, name, value) tuples."""

    def __init__(self, value: Callable[[Obj], object]):
        self.events: list[tuple[str, str, object]] = []
        self.value = value
        self.handler = FuncHandler(
            add=lambda o: self.events.append(("add", o["metadata"]["name"], self.value(o))),
            update=lambda _old, new: self.events.append(("update", new["metadata"]["name"], self.value(new))),
            delete=lambda o: self.events.append(("delete", o["metadata"]["name"], self.value(o))),
        )

    async def wait_for(self, cond: Callable[[], bool], within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met in {within}s; events: {self.events}")
            await asyncio.sleep(0.05)


def widget(ns: str, name: str, size: int) -> Obj:
    return {
        "apiVersion": WIDGETS.api_version,
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"size": size},
    }


def cm(ns: str, name: str, value: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": {"v": value},
    }


@pytest.fixture
async def proxy(apiserver: Envtest) -> AsyncIterator[Proxy]:
    u = urlparse(apiserver.url)
    p = await Proxy(u.hostname or "127.0.0.1", u.port or 443).start()
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def proxied(apiserver: Envtest, proxy: Proxy) -> AsyncIterator[Client]:
    path = apiserver.mint_kubeconfig("proxied-admin", ["system:masters"], server=proxy.url)
    client = await Client.from_kubeconfig(path, qps=500, burst=1000)
    try:
        yield client
    finally:
        await client.close()


async def test_informer_sees_create_update_delete_in_order(kube: Client, namespace: str) -> None:
    await kube.create(WIDGETS, widget(namespace, "before", 1))
    rec = Recorder(lambda o: o.get("spec", {}).get("size"))
    inf = Informer(kube, WIDGETS, namespace)
    inf.add_event_handler(rec.handler)
    inf.start()
    try:
        assert await inf.wait_for_sync(10)
        assert rec.events == [("add", "before", 1)]
        await kube.create(WIDGETS, widget(namespace, "w", 1))
        await kube.patch(WIDGETS, "w", {"spec": {"size": 2}}, namespace)
        await kube.patch(WIDGETS, "w", {"spec": {"size": 3}}, namespace)
        await kube.delete(WIDGETS, "w", namespace)
        await rec.wait_for(lambda: len(rec.events) >= 5)
        assert rec.events == [
            ("add", "before", 1),
            ("add", "w", 1),
            ("update", "w", 2),
            ("update", "w", 3),
            ("delete", "w", 3),
        ]
        assert inf.store.keys() == [f"{namespace}/before"]
        assert inf.stats["lists"] == 1
    finally:
        await inf.stop()


async def _start_with_a_b(kube: Client, proxied: Client, namespace: str, rec: Recorder) -> Informer:
    await kube.create(CONFIGMAPS, cm(namespace, "a", "1"))
    await kube.create(CONFIGMAPS, cm(namespace, "b", "1"))
    inf = Informer(proxied, CONFIGMAPS, namespace, backoff=Backoff(0.1, 1.0))
    inf.add_event_handler(rec.handler)
    inf.start()
    assert await inf.wait_for_sync(10)
    return inf


async def _change_while_away(kube: Client, namespace: str) -> None:
    await kube.create(CONFIGMAPS, cm(namespace, "c", "1"))
    await kube.patch(CONFIGMAPS, "a", {"data": {"v": "2"}}, namespace)
    await kube.delete(CONFIGMAPS, "b", namespace)


def ours(inf: Informer) -> list[str]:
    """Keys of the ConfigMaps the test made (the controller-manager, if running, adds kube-root-ca.crt)."""
    return [k for k in inf.store if not k.endswith("/kube-root-ca.crt")]


def _final_state_seen(rec: Recorder) -> bool:
    return {("add", "c", "1"), ("update", "a", "2"), ("delete", "b", "1")} <= set(rec.events)


async def test_watch_cut_mid_stream_resumes_from_resource_version_and_loses_nothing(
    kube: Client, proxied: Client, proxy: Proxy, namespace: str
) -> None:
    rec = Recorder(lambda o: (o.get("data") or {}).get("v"))
    inf = await _start_with_a_b(kube, proxied, namespace, rec)
    try:
        await rec.wait_for(lambda: inf.stats["watches"] >= 1)
        await asyncio.sleep(0.3)  # let the watch open
        proxy.block()
        assert proxy.cut() >= 1  # the open watch is cut off mid-stream
        await _change_while_away(kube, namespace)
        await asyncio.sleep(0.5)
        proxy.unblock()
        await rec.wait_for(lambda: _final_state_seen(rec))
        assert inf.stats["lists"] == 1, "a cut watch resumes from its resourceVersion without relisting"
        assert inf.stats["errors"] >= 1
        assert ours(inf) == [f"{namespace}/a", f"{namespace}/c"]
        assert inf.store.get(f"{namespace}/a")["data"] == {"v": "2"}  # type: ignore[index]
    finally:
        await inf.stop()


async def test_410_gone_after_compaction_relists_and_emits_deletes_that_happened_meanwhile(
    apiserver: Envtest, kube: Client, proxied: Client, proxy: Proxy, namespace: str
) -> None:
    rec = Recorder(lambda o: (o.get("data") or {}).get("v"))
    inf = await _start_with_a_b(kube, proxied, namespace, rec)
    try:
        proxy.block()
        assert proxy.cut() >= 1
        old_rv = inf.resource_version
        await _change_while_away(kube, namespace)
        # more writes so the compaction point is past the informer's resourceVersion
        await kube.create(CONFIGMAPS, cm(namespace, "d", "1"))
        await kube.delete(CONFIGMAPS, "d", namespace)
        assert apiserver.compact() > int(old_rv)
        proxy.unblock()
        await rec.wait_for(lambda: _final_state_seen(rec) and inf.stats["lists"] >= 2)
        assert inf.stats["gone"] >= 1, "the watch from the compacted resourceVersion answered 410"
        assert ours(inf) == [f"{namespace}/a", f"{namespace}/c"]
        # d came and went while the informer was away: the relist rightly says nothing of it
        assert not [e for e in rec.events if e[1] == "d"]
    finally:
        await inf.stop()


async def test_silent_watch_is_restarted_after_the_inactivity_timeout(
    kube: Client, proxied: Client, proxy: Proxy, namespace: str
) -> None:
    rec = Recorder(lambda o: (o.get("data") or {}).get("v"))
    await kube.create(CONFIGMAPS, cm(namespace, "a", "1"))
    inf = Informer(proxied, CONFIGMAPS, namespace, inactivity_timeout=1.5, backoff=Backoff(0.1, 1.0))
    inf.add_event_handler(rec.handler)
    inf.start()
    try:
        assert await inf.wait_for_sync(10)
        await asyncio.sleep(0.3)
        watches = inf.stats["watches"]
        assert proxy.stall() >= 1  # the connection stays open but nothing flows
        await kube.create(CONFIGMAPS, cm(namespace, "late", "1"))
        started = time.monotonic()
        await rec.wait_for(lambda: ("add", "late", "1") in rec.events, within=15)
        assert inf.stats["watches"] > watches
        assert time.monotonic() - started < 1.5 + 3.0
    finally:
        await inf.stop()
