"""Recording core/v1 Events about objects (client-go's ``EventRecorder``, simplified).

An event is best effort: a failure to record one is logged and never raised, so that reporting
never changes what a reconcile does. Messages are truncated to the apiserver's 1 KiB limit.
"""

from __future__ import annotations

import datetime
from typing import Literal

from moco.kube import errors
from moco.kube.client import Client
from moco.kube.resource import EVENTS
from moco.kube.store import Obj
from moco.log import get_logger

log = get_logger("moco.kube.events")

EventType = Literal["Normal", "Warning"]


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


class EventRecorder:
    """Creates Events as ``component``."""

    def __init__(self, client: Client, component: str):
        self.client = client
        self.component = component

    async def event(self, obj: Obj, type_: EventType, reason: str, message: str) -> None:
        ev = event_for(obj, type_, reason, message, self.component)
        try:
            await self.client.create(EVENTS, ev, request_timeout=10)
        except errors.KubeError as e:
            log.warning("event not recorded", reason=reason, error=str(e))

    async def normal(self, obj: Obj, reason: str, message: str) -> None:
        await self.event(obj, "Normal", reason, message)

    async def warning(self, obj: Obj, reason: str, message: str) -> None:
        await self.event(obj, "Warning", reason, message)
