"""``credential rotate`` / ``discard`` decisions, one row per rule of :mod:`moco.plugin.rotation`,
and the ``credential`` parent's fallback to ``show``."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from moco import constants
from moco.cli.kubectl_moco import cli
from moco.plugin.errors import Refused
from moco.plugin.rotation import RotationView, discard_patch, rotate_patch


def view(
    phase: str = "Idle", *, healthy: bool = True, offline: bool = False, anns: dict[str, str] | None = None
) -> RotationView:
    obj: dict[str, Any] = {
        "metadata": {"name": "db", "namespace": "ns", "annotations": anns or {}},
        "spec": {"offline": offline},
        "status": {
            "conditions": [{"type": "Healthy", "status": "True" if healthy else "False"}],
            "systemUserRotation": {"phase": phase, "rotationID": "" if phase == "Idle" else "r1"},
        },
    }
    return RotationView.from_obj(obj)


REFUSALS = [
    ("1 offline", view(offline=True), "set it online first"),
    (
        "2 reconciliation stopped",
        view(anns={constants.ANN_RECONCILIATION_STOPPED: "true"}),
        "kubectl moco start reconciliation db",
    ),
    (
        "2 clustering stopped",
        view(anns={constants.ANN_CLUSTERING_STOPPED: "true"}),
        "kubectl moco start clustering db",
    ),
    ("3 not healthy", view(healthy=False), "not Healthy"),
    ("4 rotating", view("Rotating"), "wait until it is Rotated"),
    ("4 rotated", view("Rotated"), "kubectl moco credential discard db"),
]


@pytest.mark.parametrize(("case", "v", "says"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_rotate_refusals(case: str, v: RotationView, says: str) -> None:
    with pytest.raises(Refused) as e:
        rotate_patch(v, "r2")
    assert says in str(e.value)
    assert "ns/db" in str(e.value)


def test_rotate_sets_the_annotation_once() -> None:
    assert rotate_patch(view(), "r2") == {"metadata": {"annotations": {constants.ANN_PASSWORD_ROTATE: "r2"}}}
    assert rotate_patch(view(anns={constants.ANN_PASSWORD_ROTATE: "r2"}), "r3") is None


@pytest.mark.parametrize(
    ("case", "v", "says"),
    [
        ("1 offline", view("Rotated", offline=True), "set it online first"),
        ("3 not healthy", view("Rotated", healthy=False), "not Healthy"),
        ("4 idle", view(), "kubectl moco credential rotate db"),
        ("4 rotating", view("Rotating"), "not Rotated yet"),
    ],
)
def test_discard_refusals(case: str, v: RotationView, says: str) -> None:
    with pytest.raises(Refused) as e:
        discard_patch(v)
    assert says in str(e.value)


def test_discard_names_the_rotation_in_progress() -> None:
    assert discard_patch(view("Rotated")) == {
        "metadata": {"annotations": {constants.ANN_PASSWORD_DISCARD: "r1"}}
    }
    assert discard_patch(view("Rotated", anns={constants.ANN_PASSWORD_DISCARD: "r1"})) is None
    # a discard annotation left from another rotation is replaced by this one's
    assert discard_patch(view("Rotated", anns={constants.ANN_PASSWORD_DISCARD: "r0"})) is not None


@pytest.mark.parametrize(
    "argv",
    [
        ["credential", "db"],
        ["credential", "-u", "moco-admin", "--format", "mycnf", "db"],
        ["credential", "show", "db"],
    ],
)
def test_credential_without_a_subcommand_is_show(argv: list[str], tmp_path: Any) -> None:
    res = CliRunner(env={"KUBECONFIG": str(tmp_path / "none")}).invoke(cli, argv)
    assert res.exit_code == 1  # show ran, and found no kubeconfig
    assert "pass --kubeconfig" in res.stderr


def test_credential_help_lists_the_subcommands() -> None:
    res = CliRunner().invoke(cli, ["credential", "--help"])
    assert res.exit_code == 0
    for sub in ("show", "rotate", "discard"):
        assert sub in res.output
