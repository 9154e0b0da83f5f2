"""Informer: a reflector (list, then watch) keeping a :class:`~moco.kube.store.Store` current.

The reflector's loop, as client-go's ``ListAndWatch``:

1. **List** every object (paginated) and replace the store. Differences with the previous content
   become events: a delete for each object that vanished meanwhile, an add for each new one, an
   update for each whose ``resourceVersion`` changed. The list's resourceVersion is remembered.
2. **Watch** from that resourceVersion with ``allowWatchBookmarks``; every event updates the store,
   the remembered resourceVersion, then the handlers. A bookmark only moves the resourceVersion.
   The server ends the watch after ``timeoutSeconds`` (randomised 5-10 min): watch again from the
   remembered version. A watch silent for ``inactivity_timeout`` is cut and restarted.
3. **410 Gone** (the remembered version was compacted) means go back to 1 at once: the relist
   produces the deletes and updates the watch missed.
4. Any other failure (connection refused or reset, 5xx, timeouts) waits an exponential backoff
   with jitter (0.8 s .. 30 s) and watches again from the remembered version, or relists if the
   failure was in the list.

Invariants: the store changes only in the informer's task, before the handlers see the event;
handlers see events of one object in the order the apiserver produced them; :meth:`Informer.has_synced`
turns true after the first list has been stored and dispatched, and stays true.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from typing import Any

from moco.kube import errors
from moco.kube.client import Client
from moco.kube.handlers import EventHandler
from moco.kube.ratelimit import Backoff
from moco.kube.resource import Resource
from moco.kube.store import IndexFunc, Obj, Store, key_of
from moco.log import get_logger
from moco.tasks import cancel_and_wait

log = get_logger("moco.kube.informer")


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


class Informer:
    """List+watch one resource (in one namespace or all) into a store, calling handlers."""

    def __init__(
        self,
        client: Client,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        inactivity_timeout: float = 90.0,
        watch_timeout: tuple[int, int] = (300, 600),
        page_size: int = 500,
        backoff: Backoff | None = None,
    ):
        self.client = client
        self.resource = resource
        self.namespace = namespace if resource.namespaced else None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.store = Store()
        if indexers:
            self.store.add_indexers(indexers)
        self.inactivity_timeout = inactivity_timeout
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.backoff = backoff or Backoff()
        self.resource_version = ""
        self.stats: dict[str, int] = {"lists": 0, "watches": 0, "gone": 0, "errors": 0, "bookmarks": 0}
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._log = log.bind(resource=str(resource), namespace=self.namespace or "*")

    # --- handlers and state ------------------------------------------------------------------
    def add_event_handler(self, handler: EventHandler) -> None:
        """Register a handler; if the store is already synced, it gets an add for every object."""
        self._handlers.append(handler)
        if self._synced.is_set():
            for obj in self.store.list():
                self._call(handler.on_add, obj)

    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, within: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), within)
        except TimeoutError:
            return False
        return True

    def _call(self, fn: Any, *args: Obj) -> None:
        try:
            fn(*args)
        except Exception:
            self._log.exception("event handler failed")

    def _emit_add(self, obj: Obj) -> None:
        for h in self._handlers:
            self._call(h.on_add, obj)

    def _emit_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            self._call(h.on_update, old, new)

    def _emit_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            self._call(h.on_delete, obj)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer {self.resource}")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    async def run(self) -> None:
        """The reflector loop; runs until cancelled."""
        need_list = True
        gone_in_a_row = 0
        while True:
            try:
                if gone_in_a_row > 1:  # relists that keep failing with 410 must not spin
                    await asyncio.sleep(self.backoff.next())
                if need_list:
                    await self._list()
                    need_list = False
                    self.backoff.reset()
                opened = time.monotonic()
                got_events = await self._watch()
                gone_in_a_row = 0
                if got_events:
                    self.backoff.reset()
                elif time.monotonic() - opened < 1.0:  # ended at once, empty: do not spin
                    await asyncio.sleep(self.backoff.next())
            except asyncio.CancelledError:
                raise
            except errors.Gone as e:
                self.stats["gone"] += 1
                gone_in_a_row += 1
                self._log.info(
                    "resource version expired, relisting",
                    resource_version=self.resource_version,
                    error=str(e),
                )
                need_list = True
                self.resource_version = ""
                continue
            except Exception as e:
                self.stats["errors"] += 1
                delay = self.backoff.next()
                self._log.warning(
                    "list/watch failed, backing off",
                    phase="list" if need_list else "watch",
                    error=f"{type(e).__name__}: {e}",
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)

    async def _list(self) -> None:
        started = time.monotonic()
        items, rv = await self.client.list_all(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            page_size=self.page_size,
        )
        self.stats["lists"] += 1
        old = self.store.snapshot()
        self.store.replace(items)
        self.resource_version = rv
        for key, obj in old.items():
            if key not in self.store:
                self._emit_delete(obj)
        for obj in items:
            prev = old.get(key_of(obj))
            if prev is None:
                self._emit_add(obj)
            elif _rv(prev) != _rv(obj):
                self._emit_update(prev, obj)
        if not self._synced.is_set():
            self._synced.set()
            self._log.info("synced", objects=len(items), seconds=round(time.monotonic() - started, 3))
        else:
            self._log.info(
                "relisted", objects=len(items), vanished=sum(1 for k in old if k not in self.store)
            )

    async def _watch(self) -> bool:
        """One watch, until the server ends it; returns whether any event arrived."""
        self.stats["watches"] += 1
        got = False
        async with self.client.watch(
            self.resource,
            self.namespace,
            resource_version=self.resource_version,
            timeout_seconds=random.randint(*self.watch_timeout),
            allow_bookmarks=True,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            inactivity_timeout=self.inactivity_timeout,
        ) as events:
            async for event in events:
                got = True
                self._apply(event)
        return got

    def _apply(self, event: Obj) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            raise errors.from_status(int(obj.get("code") or 500), obj)
        if kind == "BOOKMARK":
            self.stats["bookmarks"] += 1
            self.resource_version = _rv(obj) or self.resource_version
            return
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        if kind in ("ADDED", "MODIFIED"):
            old = self.store.add(obj)
            self.resource_version = _rv(obj)
            if old is None:
                self._emit_add(obj)
            else:
                self._emit_update(old, obj)
        elif kind == "DELETED":
            self.store.delete(key_of(obj))
            self.resource_version = _rv(obj)
            self._emit_delete(obj)
        else:
            self._log.warning("unknown watch event", type=kind)
