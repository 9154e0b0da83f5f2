"""The reflector loop against a scripted in-memory source (the apiserver tier covers the real one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from moco.kube import errors
from moco.kube.client import Client
from moco.kube.handlers import FuncHandler
from moco.kube.informer import Informer
from moco.kube.ratelimit import Backoff
from moco.kube.resource import CONFIGMAPS
from moco.kube.store import Obj


def cm(name: str, rv: int, v: str = "1") -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}, "data": {"v": v}}


class ScriptedSource:
    """list_all answers from ``lists``; each watch replays the next script of ``watches``."""

    def __init__(self, lists: list[tuple[list[Obj], str]], watches: list[list[Obj | Exception]]):
        self.lists = lists
        self.watches = watches
        self.watch_versions: list[str] = []
        self.exhausted = asyncio.Event()

    async def list_all(self, *_: Any, **__: Any) -> tuple[list[Obj], str]:
        items, rv = self.lists.pop(0)
        return [dict(i) for i in items], rv

    @asynccontextmanager
    async def watch(
        self, *_: Any, resource_version: str = "", **__: Any
    ) -> AsyncIterator[AsyncIterator[Obj]]:
        self.watch_versions.append(resource_version)
        if not self.watches:
            self.exhausted.set()
            await asyncio.Event().wait()
        script = self.watches.pop(0)

        async def events() -> AsyncIterator[Obj]:
            for step in script:
                if isinstance(step, Exception):
                    raise step
                yield step

        yield events()


def recorder() -> tuple[list[tuple[str, str, str]], FuncHandler]:
    got: list[tuple[str, str, str]] = []
    handler = FuncHandler(
        add=lambda o: got.append(("add", o["metadata"]["name"], o["data"]["v"])),
        update=lambda _o, n: got.append(("update", n["metadata"]["name"], n["data"]["v"])),
        delete=lambda o: got.append(("delete", o["metadata"]["name"], o["data"]["v"])),
    )
    return got, handler


async def run_script(src: ScriptedSource, handler: FuncHandler) -> Informer:
    inf = Informer(cast(Client, src), CONFIGMAPS, "ns", backoff=Backoff(0.001, 0.01))
    inf.add_event_handler(handler)
    inf.start()
    await asyncio.wait_for(src.exhausted.wait(), 5)
    await inf.stop()
    return inf


async def test_bookmark_moves_the_resource_version_and_410_relists_with_a_diff() -> None:
    src = ScriptedSource(
        lists=[([cm("a", 1), cm("b", 2)], "10"), ([cm("a", 31, "2"), cm("c", 11)], "40")],
        watches=[
            [
                {"type": "ADDED", "object": cm("c", 11)},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "30"}}},
                {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}},
            ]
        ],
    )
    got, handler = recorder()
    inf = await run_script(src, handler)
    assert got == [
        ("add", "a", "1"),
        ("add", "b", "1"),
        ("add", "c", "1"),
        ("delete", "b", "1"),
        ("update", "a", "2"),
    ]
    assert src.watch_versions == ["10", "40"]
    assert inf.stats == {"lists": 2, "watches": 2, "gone": 1, "errors": 0, "bookmarks": 1}
    assert inf.store.keys() == ["ns/a", "ns/c"]


async def test_a_failed_watch_resumes_from_the_last_event_seen_without_relisting() -> None:
    src = ScriptedSource(
        lists=[([cm("a", 1)], "10")],
        watches=[
            [{"type": "MODIFIED", "object": cm("a", 12, "2")}, errors.Unreachable("reset")],
            [{"type": "DELETED", "object": cm("a", 13, "2")}],
        ],
    )
    got, handler = recorder()
    inf = await run_script(src, handler)
    assert src.watch_versions == ["10", "12", "13"]
    assert got == [("add", "a", "1"), ("update", "a", "2"), ("delete", "a", "2")]
    assert inf.stats["lists"] == 1
    assert inf.stats["errors"] == 1


async def test_a_failing_handler_does_not_stop_the_others_and_late_handlers_get_the_cache() -> None:
    src = ScriptedSource(lists=[([cm("a", 1)], "10")], watches=[[{"type": "ADDED", "object": cm("b", 11)}]])
    got, handler = recorder()

    def boom(_: Obj) -> None:
        raise RuntimeError("handler bug")

    inf = Informer(cast(Client, src), CONFIGMAPS, "ns", backoff=Backoff(0.001, 0.01))
    inf.add_event_handler(FuncHandler(add=boom))
    inf.add_event_handler(handler)
    inf.start()
    await asyncio.wait_for(src.exhausted.wait(), 5)
    assert got == [("add", "a", "1"), ("add", "b", "1")]
    late, late_handler = recorder()
    inf.add_event_handler(late_handler)
    assert sorted(late) == [("add", "a", "1"), ("add", "b", "1")]
    assert inf.has_synced()
    await inf.stop()
