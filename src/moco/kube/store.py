"""The informer's local cache: objects by key, plus indexes (client-go's ``ThreadSafeStore``).

Objects are the apiserver's JSON as dicts, stored as received and never mutated by the store:
callers that want to change one must copy it first (``copy.deepcopy``). A key is
``namespace/name`` for namespaced objects and ``name`` for cluster-scoped ones
(:func:`key_of`, :func:`split_key`).

An indexer maps an object to zero or more index values; :meth:`Store.by_index` returns the objects
with a value. The invariant kept by every mutation: for each indexer, ``indices[name][value]`` is
exactly the set of keys whose object yields ``value``. The namespace index is always present.
Built-in indexers: :func:`namespace_index`,
:func:`owner_uid_index`; :func:`field_index` makes one from any field path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]

NAMESPACE_INDEX = "namespace"
OWNER_UID_INDEX = "owner-uid"


def key_of(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` (or ``name`` for a cluster-scoped object)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


def split_key(key: str) -> tuple[str | None, str]:
    """The inverse of :func:`key_of`: ``(namespace or None, name)``."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def namespace_index(obj: Obj) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def owner_uid_index(obj: Obj) -> list[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r["uid"]) for r in refs if r.get("uid")]


def field_index(path: str) -> IndexFunc:
    """An indexer on a dotted field path, e.g. ``spec.nodeName`` or ``metadata.labels.app``."""
    parts = path.split(".")

    def index(obj: Obj) -> list[str]:
        cur: Any = obj
        for p in parts:
            if not isinstance(cur, Mapping) or p not in cur:
                return []
            cur = cur[p]
        if cur is None:
            return []
        if isinstance(cur, list):
            return [str(v) for v in cur]
        return [str(cur)]

    return index


class Store:
    """Objects by key with indexes. Single-threaded (one event loop): no locking needed."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None):
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        self.add_indexers({NAMESPACE_INDEX: namespace_index, **(indexers or {})})

    # --- indexes -----------------------------------------------------------------------------
    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexers (they are built over the objects already stored)."""
        for name, fn in indexers.items():
            if name in self._indexers:
                raise ValueError(f"indexer {name!r} already exists")
            self._indexers[name] = fn
            self._indices[name] = {}
            for key, obj in self._items.items():
                self._index_one(name, key, obj)

    def _index_one(self, name: str, key: str, obj: Obj) -> None:
        index = self._indices[name]
        for value in self._indexers[name](obj):
            index.setdefault(value, set()).add(key)

    def _unindex_one(self, name: str, key: str, obj: Obj) -> None:
        index = self._indices[name]
        for value in self._indexers[name](obj):
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]

    def _reindex(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for name in self._indexers:
            if old is not None:
                self._unindex_one(name, key, old)
            if new is not None:
                self._index_one(name, key, new)

    def has_indexer(self, name: str) -> bool:
        return name in self._indexers

    def by_index(self, index: str, value: str) -> list[Obj]:
        """Objects whose indexer ``index`` yields ``value``."""
        return [self._items[k] for k in sorted(self._indices[index].get(value, ()))]

    def index_keys(self, index: str, value: str) -> list[str]:
        return sorted(self._indices[index].get(value, ()))

    def index_values(self, index: str) -> list[str]:
        return sorted(self._indices[index])

    # --- objects -----------------------------------------------------------------------------
    def add(self, obj: Obj) -> Obj | None:
        """Store ``obj`` (add or update); returns the previous object with that key, if any."""
        key = key_of(obj)
        old = self._items.get(key)
        self._items[key] = obj
        self._reindex(key, old, obj)
        return old

    update = add

    def delete(self, key: str) -> Obj | None:
        """Remove ``key``; returns the object removed, if any."""
        old = self._items.pop(key, None)
        if old is not None:
            self._reindex(key, old, None)
        return old

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        """Keys, sorted."""
        return iter(sorted(self._items))

    def keys(self) -> list[str]:
        return sorted(self._items)

    def snapshot(self) -> dict[str, Obj]:
        """A shallow copy of the key -> object mapping."""
        return dict(self._items)

    def list(self, namespace: str | None = None) -> list[Obj]:
        """Every object, or those of one namespace (by the namespace index when present)."""
        if namespace is None:
            return list(self._items.values())
        if NAMESPACE_INDEX in self._indexers:
            return self.by_index(NAMESPACE_INDEX, namespace)
        return [o for o in self._items.values() if (o.get("metadata") or {}).get("namespace") == namespace]

    def replace(self, objs: Iterable[Obj]) -> None:
        """Make the store hold exactly ``objs`` (indexes rebuilt)."""
        self._items = {key_of(o): o for o in objs}
        self._indices = {name: {} for name in self._indexers}
        for key, obj in self._items.items():
            for name in self._indexers:
                self._index_one(name, key, obj)
