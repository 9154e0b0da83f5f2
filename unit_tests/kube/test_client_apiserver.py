"""The client against a real kube-apiserver: verbs, error mapping, server-side apply, retries."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from moco import urgency
from moco.kube import errors
from moco.kube.client import Client
from moco.kube.events import AGGREGATE_WINDOW, EventRecorder
from moco.kube.resource import CONFIGMAPS, EVENTS, NAMESPACES
from moco.testing.envtest import Envtest, free_port
from unit_tests.fixtures.apiserver import WIDGETS

pytestmark = pytest.mark.apiserver


def cm(ns: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }


async def test_create_get_replace_delete_and_error_classes(kube: Client, namespace: str) -> None:
    created = await kube.create(CONFIGMAPS, cm(namespace, "a", {"k": "1"}))
    got = await kube.get(CONFIGMAPS, "a", namespace)
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(errors.AlreadyExists) as already:
        await kube.create(CONFIGMAPS, cm(namespace, "a", {}))
    assert isinstance(already.value, errors.Conflict)
    assert already.value.status == 409
    got["data"] = {"k": "2"}
    await kube.replace(CONFIGMAPS, got)
    got["data"] = {"k": "3"}  # stale resourceVersion now
    with pytest.raises(errors.Conflict):
        await kube.replace(CONFIGMAPS, got)
    await kube.delete(CONFIGMAPS, "a", namespace)
    with pytest.raises(errors.NotFound) as missing:
        await kube.get(CONFIGMAPS, "a", namespace)
    assert missing.value.reason == "NotFound"


async def test_a_dry_run_delete_deletes_nothing(kube: Client, namespace: str) -> None:
    """DeleteOptions travel in the body: the apiserver reads no query option of a DELETE that
    has a body, so ``dryRun`` given as a query deleted the object for real."""
    await kube.create(CONFIGMAPS, cm(namespace, "kept", {}))
    await kube.delete(CONFIGMAPS, "kept", namespace, dry_run=True)
    await kube.get(CONFIGMAPS, "kept", namespace)
    with pytest.raises(TypeError, match="dry_run"):
        await kube.delete(CONFIGMAPS, "kept", namespace, query={"dryRun": "All"})
    await kube.get(CONFIGMAPS, "kept", namespace)


async def test_invalid_reports_the_field_causes(kube: Client, namespace: str) -> None:
    bad = {
        "apiVersion": WIDGETS.api_version,
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace},
    }
    bad["spec"] = {"size": -1}
    with pytest.raises(errors.Invalid) as e:
        await kube.create(WIDGETS, bad)
    assert any(c.field == "spec.size" for c in e.value.causes), e.value.causes


async def test_forbidden_for_a_user_without_rights(apiserver: Envtest, namespace: str) -> None:
    async with await Client.from_kubeconfig(apiserver.mint_kubeconfig("nobody")) as nobody:
        with pytest.raises(errors.Forbidden):
            await nobody.list(CONFIGMAPS, namespace)


async def test_list_all_follows_continue_tokens(kube: Client, namespace: str) -> None:
    await asyncio.gather(*(kube.create(CONFIGMAPS, cm(namespace, f"c{i}", {})) for i in range(7)))
    items, rv = await kube.list_all(CONFIGMAPS, namespace, page_size=3)
    names = sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith("c"))
    assert names == [f"c{i}" for i in range(7)]
    assert rv
    assert all(i["kind"] == "ConfigMap" for i in items)


async def test_server_side_apply_with_field_manager_and_force(kube: Client, namespace: str) -> None:
    first = await kube.apply(CONFIGMAPS, cm(namespace, "s", {"a": "1"}), field_manager="moco-test")
    managers = {m["manager"] for m in first["metadata"]["managedFields"]}
    assert "moco-test" in managers
    again = await kube.apply(CONFIGMAPS, cm(namespace, "s", {"a": "2", "b": "1"}), field_manager="moco-test")
    assert again["data"] == {"a": "2", "b": "1"}
    with pytest.raises(errors.Conflict):
        await kube.apply(
            CONFIGMAPS, cm(namespace, "s", {"a": "x"}), field_manager="someone-else", force=False
        )
    forced = await kube.apply(CONFIGMAPS, cm(namespace, "s", {"a": "x"}), field_manager="someone-else")
    assert forced["data"]["a"] == "x"
    # fields dropped from our own apply are removed
    mine = await kube.apply(CONFIGMAPS, cm(namespace, "s", {"b": "1"}), field_manager="moco-test")
    assert mine["data"] == {"a": "x", "b": "1"}


async def test_status_update_retries_on_conflict_by_reapplying_the_mutation(
    kube: Client, namespace: str
) -> None:
    w = {
        "apiVersion": WIDGETS.api_version,
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace},
    }
    w["spec"] = {"size": 3}
    await kube.create(WIDGETS, w)
    calls = 0

    async def mutate(obj: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # someone else writes between our read and our write
            await kube.patch(WIDGETS, "w", {"spec": {"size": 4}}, namespace)
        obj["status"] = {"observed": obj["spec"]["size"], "ready": True}

    out = await kube.update_status_with_retry(WIDGETS, "w", namespace, mutate)
    assert calls == 2
    assert out["status"] == {"observed": 4, "ready": True}
    # the status subresource leaves the spec alone and the spec update leaves the status
    assert (await kube.get(WIDGETS, "w", namespace))["status"]["observed"] == 4


async def test_every_request_has_a_timeout_and_connection_failures_are_mapped(apiserver: Envtest) -> None:
    async with await Client.from_kubeconfig(apiserver.kubeconfig) as c:
        with pytest.raises(errors.Timeout):
            await c.request("GET", "/api/v1/namespaces", request_timeout=1e-6)
        c.host = f"https://127.0.0.1:{free_port()}"
        with pytest.raises(errors.Unreachable):
            await c.get(NAMESPACES, "default")


async def test_client_side_rate_limit_spaces_requests_by_qps(apiserver: Envtest) -> None:
    async with await Client.from_kubeconfig(apiserver.kubeconfig, qps=10, burst=2) as c:
        start = time.monotonic()
        for _ in range(7):
            await c.get(NAMESPACES, "default")
        assert time.monotonic() - start >= 0.45  # 2 free, then 5 spaced 0.1 s apart


async def test_urgent_requests_never_wait_behind_the_rate_limit(apiserver: Envtest) -> None:
    async with await Client.from_kubeconfig(apiserver.kubeconfig, qps=1, burst=1) as c:
        await c.get(NAMESPACES, "default")  # the bucket's one token
        start = time.monotonic()
        with urgency.urgent():
            await c.get(NAMESPACES, "default")
        assert time.monotonic() - start < 0.5
        # the urgent request was counted: a routine one waits for its token and that one
        start = time.monotonic()
        await c.get(NAMESPACES, "default")
        assert time.monotonic() - start >= 1.5


async def test_event_recorder_creates_an_event_about_an_object(kube: Client, namespace: str) -> None:
    obj = await kube.create(CONFIGMAPS, cm(namespace, "e", {}))
    await EventRecorder(kube, "moco-test").warning(obj, "Testing", "something happened")
    events = (await kube.list(EVENTS, namespace))["items"]
    assert [(e["reason"], e["involvedObject"]["name"], e["type"]) for e in events] == [
        ("Testing", "e", "Warning")
    ]


async def test_event_recorder_counts_repeats_on_one_event(kube: Client, namespace: str) -> None:
    obj = await kube.create(CONFIGMAPS, cm(namespace, "e", {}))
    now = [0.0]
    rec = EventRecorder(kube, "moco-test", clock=lambda: now[0])

    async def seen() -> list[tuple[str, str, int]]:
        events = (await kube.list(EVENTS, namespace))["items"]
        return sorted((e["reason"], e["message"], e["count"]) for e in events)

    for _ in range(3):
        await rec.warning(obj, "Failed", "same problem")
    await rec.warning(obj, "Failed", "another problem")
    assert await seen() == [("Failed", "another problem", 1), ("Failed", "same problem", 3)]

    # the Event was deleted (TTL): the next repeat creates one again
    events = (await kube.list(EVENTS, namespace))["items"]
    for e in events:
        if e["message"] == "same problem":
            await kube.delete(EVENTS, e["metadata"]["name"], namespace)
    await rec.warning(obj, "Failed", "same problem")
    assert await seen() == [("Failed", "another problem", 1), ("Failed", "same problem", 1)]

    # past the window a repeat is a new Event
    now[0] += AGGREGATE_WINDOW + 1
    await rec.warning(obj, "Failed", "another problem")
    assert await seen() == [
        ("Failed", "another problem", 1),
        ("Failed", "another problem", 1),
        ("Failed", "same problem", 1),
    ]


async def test_garbage_collection_with_the_optional_controller_manager(
    controller_manager: Envtest, kube: Client, namespace: str
) -> None:
    owner = await kube.create(CONFIGMAPS, cm(namespace, "owner", {}))
    dep = cm(namespace, "dep", {})
    dep["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "owner",
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]
    await kube.create(CONFIGMAPS, dep)
    await kube.delete(CONFIGMAPS, "owner", namespace, propagation="Background")
    deadline = time.monotonic() + 30
    while True:
        try:
            await kube.get(CONFIGMAPS, "dep", namespace)
        except errors.NotFound:
            break
        assert time.monotonic() < deadline, "the garbage collector did not delete the dependent"
        await asyncio.sleep(0.2)
