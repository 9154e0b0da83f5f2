"""The cron syntax check (the same regular expression runs in the CRD)."""

from __future__ import annotations

import pytest

from moco.api import cron

VALID = [
    "*/5 * * * *",
    "0 0 * * *",
    "@daily",
    "@hourly",
    "@midnight",
    "@annually",
    "@every 1h30m",
    "@every 500ms",
    "0 0 1 JAN-MAR mon-fri",
    "TZ=Asia/Tokyo 0 3 * * *",
    "CRON_TZ=UTC 0 3 * * *",
    "0,30 8-18/2 * * 1-5",
    "? * * * *",
    "59 23 31 12 6",
    "5  4  *  *  sun",
]
INVALID = [
    "",
    "* * * *",
    "* * * * * *",
    "60 * * * *",
    "* 24 * * *",
    "* * 0 * *",
    "* * 32 * *",
    "* * * 13 *",
    "* * * * 7",
    "@often",
    "@every",
    "@every 5",
    "every 5m",
    "*/ * * * *",
    "a b c d e",
    "0 0 1 FOO *",
    " 0 0 * * *",
    "0 0 * * * ",
]


@pytest.mark.parametrize("schedule", VALID)
def test_valid(schedule: str) -> None:
    assert cron.is_valid(schedule)


@pytest.mark.parametrize("schedule", INVALID)
def test_invalid(schedule: str) -> None:
    assert not cron.is_valid(schedule)


def test_length_bound() -> None:
    assert not cron.is_valid("0," * 200 + "0 * * * *")
