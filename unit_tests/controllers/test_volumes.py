"""Rule 5 of :mod:`moco.controllers.volumes` (MOCO's --pvc-sync-label-keys /
--pvc-sync-annotation-keys) and the claim-to-template naming the rules rest on (rules 1-4 are
tabled in test_decisions.py)."""

from __future__ import annotations

from typing import Any

import pytest

from moco.api import MySQLCluster
from moco.controllers.volumes import MetadataSync, plan_metadata_sync, template_of
from unit_tests.controllers.render_helpers import load_example


def _cluster(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> MySQLCluster:
    """guaranteed.yaml (cluster ``test``, template ``mysql-data``) with template metadata."""
    c, _ = load_example("guaranteed.yaml")
    data = c.to_json()
    meta = data["spec"]["volumeClaimTemplates"][0]["metadata"]
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return MySQLCluster.parse(data)


def claim(name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Any:
    meta: dict[str, Any] = {"name": name}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {}}


@pytest.mark.parametrize(
    ("name", "made_from_template"),
    [
        ("mysql-data-moco-test-0", True),
        ("mysql-data-moco-test-12", True),
        ("mysql-data-moco-test-1-0", False),  # cluster test-1's claim, not cluster test's
        ("mysql-data-moco-test-x", False),  # no ordinal
        ("mysql-data-moco-test", False),
        ("other-moco-test-0", False),
    ],
)
def test_claim_belongs_to_template_by_statefulset_naming(name: str, made_from_template: bool) -> None:
    tmpl = template_of(_cluster(), name)
    assert (tmpl is not None) == made_from_template
    if tmpl is not None:
        assert tmpl.metadata.name == "mysql-data"


C0 = "mysql-data-moco-test-0"


@pytest.mark.parametrize(
    ("case", "template_labels", "template_annotations", "pvc", "label_keys", "annotation_keys", "want"),
    [
        ("5 no keys given: nothing synced", {"a": "1"}, None, claim(C0), (), (), []),
        (
            "5 value differs: synced",
            {"a": "2"},
            None,
            claim(C0, {"a": "1"}),
            ("a",),
            (),
            [MetadataSync(C0, {"a": "2"})],
        ),
        (
            "5 value missing on the claim: added",
            {"a": "2"},
            None,
            claim(C0),
            ("a",),
            (),
            [MetadataSync(C0, {"a": "2"})],
        ),
        ("5 value equal: nothing", {"a": "2"}, None, claim(C0, {"a": "2"}), ("a",), (), []),
        (
            "5 key not named by the flag: left alone",
            {"a": "2", "b": "9"},
            None,
            claim(C0, {"a": "2"}),
            ("a",),
            (),
            [],
        ),
        ("5 key not set on the template: never removed", {}, None, claim(C0, {"a": "1"}), ("a",), (), []),
        ("5 template without labels", None, None, claim(C0, {"a": "1"}), ("a",), (), []),
        (
            "5 labels and annotations, each by its own flag",
            {"a": "2"},
            {"n": "x"},
            claim(C0, {"a": "1"}, {"n": "y", "m": "keep"}),
            ("a",),
            ("n", "m"),
            [MetadataSync(C0, {"a": "2"}, {"n": "x"})],
        ),
        ("5 a label key does not sync the annotation", None, {"a": "2"}, claim(C0), ("a",), (), []),
        ("5 not the cluster's claim", {"a": "2"}, None, claim("mysql-data-moco-test-1-0"), ("a",), (), []),
    ],
)
def test_rule5_metadata_sync(
    case: str,
    template_labels: dict[str, str] | None,
    template_annotations: dict[str, str] | None,
    pvc: Any,
    label_keys: tuple[str, ...],
    annotation_keys: tuple[str, ...],
    want: list[MetadataSync],
) -> None:
    cluster = _cluster(template_labels, template_annotations)
    assert plan_metadata_sync(cluster, [pvc], label_keys, annotation_keys) == want, case


def test_rule5_patch_carries_only_what_differs() -> None:
    assert MetadataSync(C0, {"a": "2"}).patch() == {"metadata": {"labels": {"a": "2"}}}
    assert MetadataSync(C0, {}, {"n": "x"}).patch() == {"metadata": {"annotations": {"n": "x"}}}
