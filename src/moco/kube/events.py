"""Recording core/v1 Events about objects (client-go's ``EventRecorder``, simplified).

An event is best effort: a failure to record one is logged and never raised, so that reporting
never changes what a reconcile does. Messages are truncated to the apiserver's 1 KiB limit.

Repeats are aggregated as client-go's event correlator does: the same event (same object,
type, reason and message) recorded again within :data:`AGGREGATE_WINDOW` patches ``count`` and
``lastTimestamp`` of the Event already created instead of creating another. A reconcile that
fails the same way on every retry, in each of a thousand clusters, then costs one Event object
per problem, not one per retry (``kubectl describe`` shows "x N over ..."). The recorder keeps
at most :data:`AGGREGATE_KEYS` recent events (least recently recorded dropped first); when the
Event it would patch is gone (the apiserver's Event TTL, 1 h by default), a new one is created.
"""

from __future__ import annotations

import datetime
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import EVENTS
from moco.kube.store import Obj
from moco.log import get_logger

log = get_logger("moco.kube.events")

EventType = Literal["Normal", "Warning"]

#: How long after an event the same event is counted on it rather than created anew (client-go
#: aggregates within 10 minutes too).
AGGREGATE_WINDOW: Final = 600.0
#: How many distinct recent events the recorder remembers (client-go's cache holds 4096).
AGGREGATE_KEYS: Final = 4096


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_for(obj: Obj, type_: EventType, reason: str, message: str, component: str) -> Obj:
    """The Event object describing ``reason``/``message`` about ``obj`` (pure)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    now = _now()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name', 'object')}.", "namespace": ns},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion", ""),
            "kind": obj.get("kind", ""),
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


@dataclass
class _Recorded:
    name: str
    namespace: str
    count: int
    at: float


class EventRecorder:
    """Creates Events as ``component``, aggregating repeats (see the module docstring)."""

    def __init__(self, client: Client, component: str, *, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.component = component
        self.clock = clock
        self._recent: OrderedDict[tuple[str, ...], _Recorded] = OrderedDict()

    @staticmethod
    def _key(ev: Obj) -> tuple[str, ...]:
        o = ev["involvedObject"]
        return (o["kind"], o["namespace"], o["name"], o["uid"], ev["type"], ev["reason"], ev["message"])

    async def event(self, obj: Obj, type_: EventType, reason: str, message: str) -> None:
        ev = event_for(obj, type_, reason, message, self.component)
        key = self._key(ev)
        now = self.clock()
        prev = self._recent.get(key)
        try:
            if prev is not None and now - prev.at < AGGREGATE_WINDOW and await self._count(prev, ev):
                prev.at = now
                self._recent.move_to_end(key)
                return
            made = await self.client.create(EVENTS, ev, request_timeout=10)
        except errors.KubeError as e:
            log.warning("event not recorded", reason=reason, error=str(e))
            return
        meta = made.get("metadata") or {}
        self._recent[key] = _Recorded(str(meta.get("name", "")), str(meta.get("namespace", "")), 1, now)
        self._recent.move_to_end(key)
        while len(self._recent) > AGGREGATE_KEYS:
            self._recent.popitem(last=False)

    async def _count(self, prev: _Recorded, ev: Obj) -> bool:
        """Count ``ev`` on the Event made earlier; False when that Event is gone."""
        patch = {"count": prev.count + 1, "lastTimestamp": ev["lastTimestamp"]}
        try:
            await self.client.patch(EVENTS, prev.name, patch, prev.namespace, request_timeout=10)
        except errors.NotFound:
            return False
        prev.count += 1
        return True

    async def normal(self, obj: Obj, reason: str, message: str) -> None:
        await self.event(obj, "Normal", reason, message)

    async def warning(self, obj: Obj, reason: str, message: str) -> None:
        await self.event(obj, "Warning", reason, message)
