"""The store and its indexes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moco.kube.store import (
    NAMESPACE_INDEX,
    OWNER_UID_INDEX,
    Store,
    field_index,
    key_of,
    owner_uid_index,
    split_key,
)


def obj(
    ns: str | None, name: str, *, owners: tuple[str, ...] = (), node: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    if owners:
        meta["ownerReferences"] = [{"uid": u, "kind": "X", "name": u, "apiVersion": "v1"} for u in owners]
    o: dict[str, Any] = {"metadata": meta}
    if node:
        o["spec"] = {"nodeName": node}
    return o


def test_keys_are_namespace_slash_name_or_name() -> None:
    assert key_of(obj("ns", "a")) == "ns/a"
    assert key_of(obj(None, "n1")) == "n1"
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("n1") == (None, "n1")


def test_add_update_delete_get_list() -> None:
    s = Store()
    assert s.add(obj("a", "x")) is None
    prev = s.add(obj("a", "x", node="n"))
    assert prev == obj("a", "x")
    assert s.get("a/x") == obj("a", "x", node="n")
    assert len(s) == 1
    assert "a/x" in s
    assert s.delete("a/x") == obj("a", "x", node="n")
    assert s.delete("a/x") is None
    assert s.list() == []


def test_namespace_index_follows_every_change() -> None:
    s = Store()
    s.add(obj("a", "x"))
    s.add(obj("a", "y"))
    s.add(obj("b", "x"))
    assert [key_of(o) for o in s.list("a")] == ["a/x", "a/y"]
    s.delete("a/x")
    assert s.index_keys(NAMESPACE_INDEX, "a") == ["a/y"]
    s.delete("a/y")
    assert NAMESPACE_INDEX
    assert "a" not in s.index_values(NAMESPACE_INDEX)


def test_owner_uid_index_finds_dependents_and_drops_changed_owners() -> None:
    s = Store({OWNER_UID_INDEX: owner_uid_index})
    s.add(obj("a", "p1", owners=("u1",)))
    s.add(obj("a", "p2", owners=("u1", "u2")))
    assert s.index_keys(OWNER_UID_INDEX, "u1") == ["a/p1", "a/p2"]
    s.add(obj("a", "p2", owners=("u2",)))  # owner u1 dropped by an update
    assert s.index_keys(OWNER_UID_INDEX, "u1") == ["a/p1"]
    assert s.index_keys(OWNER_UID_INDEX, "u2") == ["a/p2"]


def test_field_index_on_any_path_and_added_after_objects() -> None:
    s = Store()
    s.add(obj("a", "p1", node="n1"))
    s.add(obj("a", "p2", node="n2"))
    s.add(obj("a", "p3"))
    s.add_indexers({"node": field_index("spec.nodeName")})
    assert [key_of(o) for o in s.by_index("node", "n1")] == ["a/p1"]
    assert s.index_values("node") == ["n1", "n2"]
    with pytest.raises(ValueError):
        s.add_indexers({"node": field_index("spec.nodeName")})


def test_replace_rebuilds_content_and_indexes() -> None:
    s = Store({OWNER_UID_INDEX: owner_uid_index})
    s.add(obj("a", "old", owners=("u1",)))
    s.replace([obj("b", "new", owners=("u2",))])
    assert s.keys() == ["b/new"]
    assert s.index_keys(OWNER_UID_INDEX, "u1") == []
    assert s.index_keys(OWNER_UID_INDEX, "u2") == ["b/new"]
    assert s.index_keys(NAMESPACE_INDEX, "b") == ["b/new"]


_names = st.sampled_from(["a", "b", "c", "d"])
_nss = st.sampled_from(["n1", "n2"])
_uids = st.lists(st.sampled_from(["u1", "u2", "u3"]), max_size=2, unique=True)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _nss, _names, _uids),
        st.tuples(st.just("delete"), _nss, _names, _uids),
        st.tuples(st.just("replace"), _nss, _names, _uids),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(_ops)
def test_indexes_always_equal_a_recomputation_from_the_objects(
    ops: list[tuple[str, str, str, list[str]]],
) -> None:
    s = Store({OWNER_UID_INDEX: owner_uid_index})
    for op, ns, name, uids in ops:
        if op == "add":
            s.add(obj(ns, name, owners=tuple(uids)))
        elif op == "delete":
            s.delete(f"{ns}/{name}")
        else:
            s.replace([obj(ns, name, owners=tuple(uids))])
    for index, fn in (
        (OWNER_UID_INDEX, owner_uid_index),
        (NAMESPACE_INDEX, lambda o: [o["metadata"]["namespace"]]),
    ):
        expected: dict[str, set[str]] = {}
        for o in s.list():
            for v in fn(o):
                expected.setdefault(v, set()).add(key_of(o))
        assert {v: set(s.index_keys(index, v)) for v in s.index_values(index)} == expected
