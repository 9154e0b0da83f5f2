"""Event handlers: what an informer calls, and the usual ways to turn events into queue keys.

An :class:`EventHandler` has ``on_add(obj)``, ``on_update(old, new)`` and ``on_delete(obj)``;
handlers run synchronously in the informer's task and must not block (they enqueue keys).
The helpers mirror controller-runtime's ``handler`` package:

- :func:`enqueue_object`: the object's own key (``EnqueueRequestForObject``);
- :func:`enqueue_owner`: the key of the owner of a given kind named in ``ownerReferences``
  (``EnqueueRequestForOwner``), for both the old and the new object of an update;
- :func:`enqueue_mapped`: any function from object to keys (``EnqueueRequestsFromMapFunc``);
- :func:`enqueue_by_label`: the owner named by a label (for objects linked by labels only).

:func:`owner_keys` is the pure decision behind :func:`enqueue_owner`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from moco.kube.store import Obj, key_of
from moco.kube.workqueue import WorkQueue


class EventHandler(Protocol):
    def on_add(self, obj: Obj) -> None: ...

    def on_update(self, old: Obj, new: Obj) -> None: ...

    def on_delete(self, obj: Obj) -> None: ...


@dataclass(frozen=True)
class FuncHandler:
    """An :class:`EventHandler` made of optional functions."""

    add: Callable[[Obj], None] | None = None
    update: Callable[[Obj, Obj], None] | None = None
    delete: Callable[[Obj], None] | None = None

    def on_add(self, obj: Obj) -> None:
        if self.add:
            self.add(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        if self.update:
            self.update(old, new)

    def on_delete(self, obj: Obj) -> None:
        if self.delete:
            self.delete(obj)


@dataclass(frozen=True)
class MapHandler:
    """Enqueue the keys ``mapper`` returns for every object an event touches."""

    queue: WorkQueue[str]
    mapper: Callable[[Obj], Iterable[str]]

    def on_add(self, obj: Obj) -> None:
        for key in self.mapper(obj):
            self.queue.add(key)

    def on_update(self, old: Obj, new: Obj) -> None:
        for key in {*self.mapper(old), *self.mapper(new)}:
            self.queue.add(key)

    def on_delete(self, obj: Obj) -> None:
        for key in self.mapper(obj):
            self.queue.add(key)


def owner_keys(obj: Obj, kind: str, group: str = "", *, only_controller: bool = True) -> list[str]:
    """Keys of ``obj``'s owners of ``kind`` in ``group`` (owners live in the object's namespace)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    out = []
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") != kind:
            continue
        ref_group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        if ref_group != group:
            continue
        if only_controller and not ref.get("controller"):
            continue
        out.append(f"{ns}/{ref['name']}" if ns else str(ref["name"]))
    return out


def enqueue_object(queue: WorkQueue[str]) -> MapHandler:
    return MapHandler(queue, lambda obj: [key_of(obj)])


def enqueue_owner(
    queue: WorkQueue[str], kind: str, group: str = "", *, only_controller: bool = True
) -> MapHandler:
    return MapHandler(queue, lambda obj: owner_keys(obj, kind, group, only_controller=only_controller))


def enqueue_mapped(queue: WorkQueue[str], mapper: Callable[[Obj], Iterable[str]]) -> MapHandler:
    return MapHandler(queue, mapper)


def enqueue_by_label(
    queue: WorkQueue[str], name_label: str, namespace_label: str | None = None
) -> MapHandler:
    """Enqueue ``<namespace>/<labels[name_label]>``; the namespace is the object's own, or the
    value of ``namespace_label`` when given and present."""

    def mapper(obj: Obj) -> list[str]:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        name = labels.get(name_label)
        if not name:
            return []
        ns = labels.get(namespace_label) if namespace_label else None
        ns = ns or meta.get("namespace")
        return [f"{ns}/{name}" if ns else str(name)]

    return MapHandler(queue, mapper)
