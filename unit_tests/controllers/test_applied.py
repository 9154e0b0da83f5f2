"""The rules of :mod:`moco.controllers.applied`, one row each."""

from __future__ import annotations

from typing import Any

import pytest

from moco.controllers.applied import ANN_APPLIED, fingerprint, fingerprinted, is_subset, up_to_date

BODY: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "moco-x-primary", "namespace": "ns", "labels": {"app": "mysql"}},
    "spec": {"ports": [{"name": "mysql", "port": 3306}], "publishNotReadyAddresses": False},
}


def live_of(body: dict[str, Any], **extra_spec: Any) -> dict[str, Any]:
    """What the apiserver holds after applying ``body``: no apiVersion/kind in a list item,
    server-set metadata and defaulted fields added."""
    out = fingerprinted(body)
    out = {k: v for k, v in out.items() if k not in ("apiVersion", "kind")}
    out["metadata"] = {**out["metadata"], "resourceVersion": "7", "uid": "u"}
    out["spec"] = {
        **out["spec"],
        "clusterIP": "10.0.0.1",
        "ports": [{**p, "protocol": "TCP"} for p in out["spec"]["ports"]],
        **extra_spec,
    }
    return out


def changed(path: list[Any], value: Any) -> dict[str, Any]:
    import copy

    b = copy.deepcopy(BODY)
    node = b
    for k in path[:-1]:
        node = node[k]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return b


@pytest.mark.parametrize(
    ("rule", "desired", "live", "skip"),
    [
        ("both hold: skipped", BODY, live_of(BODY), True),
        ("no live object", BODY, None, False),
        (
            "deleting",
            BODY,
            {**live_of(BODY), "metadata": {**live_of(BODY)["metadata"], "deletionTimestamp": "t"}},
            False,
        ),
        (
            "rule 1: applied by someone else (no fingerprint)",
            BODY,
            {
                **live_of(BODY),
                "metadata": {"name": "moco-x-primary", "namespace": "ns", "labels": {"app": "mysql"}},
            },
            False,
        ),
        ("rule 1: a field moco no longer sets", changed(["metadata", "labels"], {}), live_of(BODY), False),
        (
            "rule 2: a field moco sets was changed",
            BODY,
            live_of(changed(["spec", "ports"], [{"name": "mysql", "port": 9}])),
            False,
        ),
        (
            "rule 2: a bool is not an int",
            changed(["spec", "publishNotReadyAddresses"], False),
            live_of(changed(["spec", "publishNotReadyAddresses"], 0)),
            False,
        ),
    ],
)
def test_up_to_date_rules(
    rule: str, desired: dict[str, Any], live: dict[str, Any] | None, skip: bool
) -> None:
    assert up_to_date(fingerprinted(desired), live) is skip, rule


def test_fingerprint_ignores_key_order_and_itself() -> None:
    reordered = {"spec": BODY["spec"], "metadata": BODY["metadata"], "kind": "Service", "apiVersion": "v1"}
    assert fingerprint(reordered) == fingerprint(BODY)
    assert fingerprint(fingerprinted(BODY)) == fingerprint(BODY)
    assert fingerprinted(BODY)["metadata"]["annotations"][ANN_APPLIED] == fingerprint(BODY)
    assert "annotations" not in BODY["metadata"]  # the input is not changed
    assert fingerprint(changed(["spec", "ports"], [])) != fingerprint(BODY)


@pytest.mark.parametrize(
    ("want", "have", "expected"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1, "c": 3}, {"a": 1}, False),
        ([{"a": 1}], [{"a": 1, "x": 0}], True),
        ([{"a": 1}], [{"a": 1}, {"a": 2}], False),
        ("1Gi", "1Gi", True),
        ("500m", "0.5", False),
        (True, 1, False),
        ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}}, True),
    ],
)
def test_is_subset(want: Any, have: Any, expected: bool) -> None:
    assert is_subset(want, have) is expected
