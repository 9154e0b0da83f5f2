"""``moco-controller``'s flags and their environment defaults."""

from __future__ import annotations

import argparse

import pytest

from moco.cli.controller import HttpServing, http_serving, images_from, parser
from moco.controllers.containers import AGENT_IMAGE, BACKUP_IMAGE


def test_defaults_are_cluster_wide_with_leader_election(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MOCO_WATCH_NAMESPACE", "POD_NAMESPACE", "MOCO_LEADER_ELECT", "MOCO_AGENT_IMAGE"):
        monkeypatch.delenv(var, raising=False)
    args = parser().parse_args([])
    assert args.watch_namespace is None
    assert args.system_namespace == "moco-system"
    assert args.leader_elect is True
    assert http_serving(args) == HttpServing(probes=("0.0.0.0", 8081), metrics=("0.0.0.0", 8080))
    images = images_from(args)
    assert images.agent == AGENT_IMAGE  # versioned apart from the controller
    assert images.backup_image == BACKUP_IMAGE  # the controller's release


def test_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCO_WATCH_NAMESPACE", "team-a")
    monkeypatch.setenv("POD_NAMESPACE", "team-a")
    monkeypatch.setenv("MOCO_AGENT_IMAGE", "example/moco:1")
    args = parser().parse_args(
        ["--no-leader-elect", "--http-bind-address=127.0.0.1:9000", "--exporter-image=exp:2", "--qps=5"]
    )
    assert (args.watch_namespace, args.system_namespace, args.leader_elect) == ("team-a", "team-a", False)
    assert http_serving(args) == HttpServing(("127.0.0.1", 9000), ("127.0.0.1", 9000), beside_probes=True)
    assert args.qps == 5.0
    assert parser().parse_args(["--apiserver-qps-throttle=50"]).qps == 50.0  # MOCO's name
    images = images_from(args)
    assert (images.agent, images.exporter, images.backup_image) == ("example/moco:1", "exp:2", BACKUP_IMAGE)


def test_bad_address_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="nowhere"):
        http_serving(parser().parse_args(["--http-bind-address=nowhere"]))


@pytest.mark.parametrize(
    ("env", "argv", "want"),
    [
        ({}, [], True),
        ({"TEST_NO_JOB_RESOURCE": "1"}, [], False),  # MOCO's e2e switch
        ({"MOCO_JOB_RESOURCES": "false"}, [], False),
        ({"TEST_NO_JOB_RESOURCE": "1"}, ["--job-resources"], True),
        ({}, ["--no-job-resources"], False),
    ],
)
def test_job_resources_switch(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], argv: list[str], want: bool
) -> None:
    for var in ("TEST_NO_JOB_RESOURCE", "MOCO_JOB_RESOURCES"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert parser().parse_args(argv).job_resources is want
