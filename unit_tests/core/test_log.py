"""The logging set-up: JSON lines with context keys, and no secret ever rendered."""

from __future__ import annotations

import json

import pytest
import structlog

from moco import log


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    err = capsys.readouterr().err.strip().splitlines()
    return json.loads(err[-1])  # type: ignore[no-any-return]


def test_json_line_has_context_keys(capsys: pytest.CaptureFixture[str]) -> None:
    log.setup("DEBUG", fmt="json")
    structlog.contextvars.bind_contextvars(cluster="c1", namespace="ns")
    try:
        log.get_logger("test", pod="c1-0").info("hello", n=3)
    finally:
        structlog.contextvars.clear_contextvars()
    line = _last_json(capsys)
    assert line["event"] == "hello"
    assert line["cluster"] == "c1"
    assert line["namespace"] == "ns"
    assert line["pod"] == "c1-0"
    assert line["n"] == 3
    assert line["level"] == "info"


@pytest.mark.parametrize("key", ["password", "ADMIN_PASSWORD", "agent_token", "secret_data"])
def test_sensitive_keys_are_redacted(capsys: pytest.CaptureFixture[str], key: str) -> None:
    log.setup("INFO", fmt="json")
    log.get_logger().info("connect", **{key: "hunter2"}, nested={"password": "hunter2", "user": "u"})
    out = capsys.readouterr().err
    assert "hunter2" not in out
    line = json.loads(out.strip().splitlines()[-1])
    assert line[key] == log.REDACTED
    assert line["nested"] == {"password": log.REDACTED, "user": "u"}


def test_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    log.setup("WARNING", fmt="json")
    log.get_logger().info("quiet")
    log.get_logger().warning("loud")
    out = capsys.readouterr().err
    assert "quiet" not in out
    assert "loud" in out
