"""``--pvc-sync-label-keys`` / ``--pvc-sync-annotation-keys``: MOCO's ``strings`` flags (comma-
separated, repeatable, empty by default) and the keys they accept."""

from __future__ import annotations

import pytest

from moco.cli.controller import parser


def test_empty_by_default_as_in_moco() -> None:
    args = parser().parse_args([])
    assert (args.pvc_sync_label_keys, args.pvc_sync_annotation_keys) == ([], [])


def test_comma_separated_and_repeated() -> None:
    args = parser().parse_args(
        [
            "--pvc-sync-label-keys=team, tier",
            "--pvc-sync-label-keys=example.com/cost-center",
            "--pvc-sync-annotation-keys=backup.example.com/policy",
        ]
    )
    assert args.pvc_sync_label_keys == ["team", "tier", "example.com/cost-center"]
    assert args.pvc_sync_annotation_keys == ["backup.example.com/policy"]


@pytest.mark.parametrize(
    "bad",
    ["-team", "team-", "a/b/c", "Example.com/x", "/x", "x" * 64, "has space", "example.com/"],
)
def test_a_key_kubernetes_refuses_is_refused_naming_it(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        parser().parse_args([f"--pvc-sync-label-keys={bad}"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--pvc-sync-label-keys" in err
    assert repr(bad) in err
    assert "[prefix/]name" in err
