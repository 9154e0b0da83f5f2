"""Agent settings: durations, sizes, environment, clone requests, the CLI's init-script command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from moco import constants
from moco.agent.clone import donor_of
from moco.agent.config import AgentConfig, env_settings, parse_duration, parse_size
from moco.agent.errors import CloneError, ConfigError
from moco.agent.initscript import render_init_script
from moco.agentapi import CloneRequest
from moco.cli import agent as cli
from moco.constants import PASSWORD_KEYS


@pytest.mark.parametrize(
    ("text", "seconds"), [("60s", 60), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("0", 0), ("1.5", 1.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "1x", "1m 2s", "-1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"), [("0", 0), ("100", 100), ("1Ki", 1024), ("10Mi", 10 << 20), ("1G", 10**9)]
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_size() -> None:
    with pytest.raises(ConfigError):
        parse_size("1.5Gi")


ENV = {
    "POD_NAME": "moco-db-1",
    "CLUSTER_NAME": "db",
    "POD_NAMESPACE": "ns",
    "MOCO_AGENT_TOKEN": "tok",
    **{key: f"pw-{user}" for user, key in PASSWORD_KEYS.items()},
}


def test_config_from_env_and_flags() -> None:
    args = cli._parser().parse_args(["server", "--max-delay", "30s", "--log-rotation-size", "1Mi"])
    cfg = cli.config_from(args, ENV)
    assert (cfg.pod_name, cfg.cluster_name, cfg.namespace, cfg.index) == ("moco-db-1", "db", "ns", 1)
    assert cfg.policy.max_delay_s == 30
    assert cfg.log_rotation_size == 1 << 20
    assert cfg.endpoint(constants.AGENT_USER).password == f"pw-{constants.AGENT_USER}"
    assert "pw-" not in repr(cfg)
    assert "tok" not in repr(cfg)


@pytest.mark.parametrize(
    "change", [{"POD_NAME": ""}, {"POD_NAME": "nope"}, {"CLUSTER_NAME": ""}, {"ADMIN_PASSWORD": ""}]
)
def test_bad_env(change: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        AgentConfig(**env_settings(ENV | change)).validate()  # type: ignore[arg-type]


def test_bad_cron_in_config() -> None:
    with pytest.raises(ConfigError, match="schedule"):
        AgentConfig(**env_settings(ENV), log_rotation_schedule="nope").validate()  # type: ignore[arg-type]


def test_clone_request_defaults_to_the_donor_user() -> None:
    req = CloneRequest.model_validate_json('{"donor_host": "moco-db-0.moco-db.ns.svc", "donor_port": 3306}')
    donor = donor_of(req, "donorpw")
    assert (donor.user, donor.password, req.boot_timeout_s) == (constants.CLONE_DONOR_USER, "donorpw", 600.0)
    assert "donorpw" not in repr(donor)
    assert "pw" not in repr(CloneRequest(donor_host="h", password="pw", init_password="pw"))


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"donor_host": ""},
        {"donor_host": "a b"},
        {"donor_host": "h", "donor_port": 0},
        {"donor_host": "h", "donor_port": "3306"},
        {"donor_host": "h", "boot_timeout_s": -1},
        {"donor_host": "h", "stall_timeout_s": 0},
        {"donor_host": "h", "init_password": 5},
        {"donor_host": "h", "surprise": 1},
    ],
)
def test_bad_clone_requests(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CloneRequest.model_validate_json(json.dumps(body))


def test_no_password_for_another_donor_user() -> None:
    with pytest.raises(CloneError, match="no password"):
        donor_of(CloneRequest(donor_host="h", user="other"), "donorpw")


def test_cli_writes_the_init_script(tmp_path: Path) -> None:
    out = tmp_path / "moco-init.sh"
    assert cli.main(["init-script", "--output", str(out)]) == 0
    assert out.read_text() == render_init_script()
    assert out.stat().st_mode & 0o111


def test_cli_refuses_a_bad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAME", raising=False)
    assert cli.main(["server"]) == 2
