"""The cron schedule parser."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moco.agent import cron


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


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
        ("0 0 * * 7", "2026-11-27T00:00:00", "2026-11-29T00:00:00"),  # 7 is Sunday
        ("0 0 * * 1-5", "2026-11-28T00:00:00", "2026-11-30T00:00:00"),  # Saturday -> Monday
        # both day fields restricted: either matches (the 1st, or a Monday)
        ("0 0 1 * 1", "2026-11-27T00:00:00", "2026-11-30T00:00:00"),
        ("0 0 1 * 1", "2026-11-30T00:00:00", "2026-12-01T00:00:00"),
        ("5/20 * * * *", "2026-01-01T00:06:00", "2026-01-01T00:25:00"),
    ],
)
def test_next_after(spec: str, after: str, expected: str) -> None:
    assert cron.parse(spec).next_after(t(after)) == t(expected)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "*/0 * * * *",
        "a * * * *",
        "5-1 * * * *",
        "@often",
        "1-x * * * *",
        "* * * * 8",
    ],
)
def test_bad_specs(spec: str) -> None:
    with pytest.raises(cron.CronError):
        cron.parse(spec)


def test_never_firing_schedule() -> None:
    with pytest.raises(cron.CronError, match="never"):
        cron.parse("0 0 30 2 *").next_after(t("2026-01-01T00:00:00"))


def test_matches() -> None:
    s = cron.parse("*/15 3 * * *")
    assert s.matches(t("2026-01-01T03:45:00"))
    assert not s.matches(t("2026-01-01T04:45:00"))
