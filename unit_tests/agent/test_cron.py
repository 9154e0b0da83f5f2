"""The log-rotation schedule: every schedule the CRD admits parses, and fires as robfig/cron would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moco.agent import cron
from moco.agent.config import AgentConfig, env_settings
from moco.api.cron import CRON_REGEX, MAX_SCHEDULE_LENGTH
from moco.constants import PASSWORD_KEYS

ENV = {
    "POD_NAME": "moco-single-0",
    "CLUSTER_NAME": "single",
    "POD_NAMESPACE": "foo",
    **{key: f"pw-{user}" for user, key in PASSWORD_KEYS.items()},
}


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def test_moco_single_yaml_schedule_is_accepted_by_the_agent() -> None:
    """MOCO's e2e/testdata/single.yaml sets ``logRotationSchedule: "@every 10s"``; the CRD admits
    it, so the agent must start with it (it exited 2 on it)."""
    cfg = AgentConfig(**env_settings(ENV), log_rotation_schedule="@every 10s").validate()  # type: ignore[arg-type]
    s = cron.parse(cfg.log_rotation_schedule)
    assert s.next_after(t("2026-01-01T00:00:00.5")) == t("2026-01-01T00:00:10")


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("*/5 * * * *", "2026-01-01T00:00:00", "2026-01-01T00:05:00"),
        ("*/5 * * * *", "2026-01-01T00:04:59", "2026-01-01T00:05:00"),
        ("*/5 * * * *", "2026-01-01T23:59:00", "2026-01-02T00:00:00"),
        ("* * * * *", "2026-01-01T10:10:30", "2026-01-01T10:11:00"),
        ("@hourly", "2026-01-01T10:10:00", "2026-01-01T11:00:00"),
        ("@daily", "2026-01-01T10:10:00", "2026-01-02T00:00:00"),
        ("@midnight", "2026-12-31T10:10:00", "2027-01-01T00:00:00"),
        ("@weekly", "2026-11-27T10:00:00", "2026-11-29T00:00:00"),  # a Friday -> Sunday
        ("@monthly", "2026-02-15T00:00:00", "2026-03-01T00:00:00"),
        ("@yearly", "2026-02-15T00:00:00", "2027-01-01T00:00:00"),
        ("30 2 * * *", "2026-01-01T02:30:00", "2026-01-02T02:30:00"),
        ("0 9-17/4 * * *", "2026-01-01T09:00:00", "2026-01-01T13:00:00"),
        ("0,30 * * * *", "2026-01-01T00:10:00", "2026-01-01T00:30:00"),
        ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
        ("0 0 * * 1-5", "2026-11-28T00:00:00", "2026-11-30T00:00:00"),  # Saturday -> Monday
        # both day fields restricted: either matches (the 1st, or a Monday)
        ("0 0 1 * 1", "2026-11-27T00:00:00", "2026-11-30T00:00:00"),
        ("0 0 1 * 1", "2026-11-30T00:00:00", "2026-12-01T00:00:00"),
        ("5/20 * * * *", "2026-01-01T00:06:00", "2026-01-01T00:25:00"),
        # names, any case; ? as *; leading zeros
        ("0 0 * * mon-FRI", "2026-11-28T00:00:00", "2026-11-30T00:00:00"),
        ("0 0 1 jun ?", "2026-01-01T00:00:00", "2026-06-01T00:00:00"),
        ("? ? ? ? ?", "2026-01-01T10:10:30", "2026-01-01T10:11:00"),
        ("00 09 * * *", "2026-01-01T10:00:00", "2026-01-02T09:00:00"),
        # a zone prefix: 09:00 in Tokyo is 00:00 UTC
        ("TZ=Asia/Tokyo 0 9 * * *", "2026-01-01T01:00:00", "2026-01-02T00:00:00"),
        ("CRON_TZ=Asia/Tokyo 0 9 * * *", "2026-01-01T01:00:00", "2026-01-02T00:00:00"),
        # @every: Go durations, truncated to seconds, at least one second
        ("@every 1h30m", "2026-01-01T00:00:00", "2026-01-01T01:30:00"),
        ("@every 1.5s", "2026-01-01T00:00:00", "2026-01-01T00:00:01"),
        ("@every 500ms", "2026-01-01T00:00:00", "2026-01-01T00:00:01"),
    ],
)
def test_next_after(spec: str, after: str, expected: str) -> None:
    assert cron.parse(spec).next_after(t(after)) == t(expected)


@pytest.mark.parametrize(
    "spec", ["", "* * * *", "* * * * * *", "a * * * *", "@often", "1-x * * * *", "@every 5"]
)
def test_malformed_specs(spec: str) -> None:
    with pytest.raises(cron.CronError):
        cron.parse(spec)


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("5-1 * * * *", "starts after its end"),
        ("0 0 * * FRI-MON", "starts after its end"),
        ("*/0 * * * *", "positive"),
        ("TZ=Nowhere/Atlantis 0 0 * * *", "time zone"),
        ("0 0 30 2 *", "no day"),
        ("@every 3000000h", "limit"),
    ],
)
def test_admitted_but_never_fires(spec: str, why: str) -> None:
    """What the CRD admits and robfig would refuse: the agent runs, the schedule never fires."""
    s = cron.parse(spec)
    assert not s.fires
    assert why in s.problem
    now = t("2026-01-01T00:00:00")
    assert s.next_after(now) - now >= cron.NEVER


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(CRON_REGEX, fullmatch=True).filter(lambda s: len(s) <= MAX_SCHEDULE_LENGTH))
def test_every_schedule_the_crd_admits_parses(spec: str) -> None:
    """The CRD's own pattern generates the schedules: none may stop the agent."""
    cfg = AgentConfig(**env_settings(ENV), log_rotation_schedule=spec).validate()  # type: ignore[arg-type]
    s = cron.parse(cfg.log_rotation_schedule)
    now = t("2026-06-15T12:34:56")
    nxt = s.next_after(now)
    assert nxt > now
    if s.fires and s.every is None:
        # a firing cron schedule fires within the span croniter searches (leap days: 8 years)
        assert nxt - now <= timedelta(days=366 * 8) or "no day" in s.problem
