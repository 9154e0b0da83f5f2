"""Phases of a run and the stages of a clone (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from moco.backup.phases import Phases, stage_seconds

T0 = datetime(2026, 1, 1, 12, 0, 0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_phase_entered_twice_is_the_sum_and_keeps_its_first_place() -> None:
    ph = Phases()
    ph.add("download", 1.0)
    with ph("clone"):
        pass
    ph.add("download", 0.5)
    assert list(ph.seconds) == ["download", "clone"]
    assert ph.seconds["download"] == 1.5
    assert 0 <= ph.seconds["clone"] < 1


def test_a_phase_is_timed_when_it_fails() -> None:
    ph = Phases()
    try:
        with ph("upload"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert "upload" in ph.seconds


def test_clone_stages_that_ran_are_named_and_timed() -> None:
    rows = [
        ("DROP DATA", "Completed", at(0), at(0.25)),
        ("FILE COPY", "Completed", at(0.25), at(2.5)),
        ("PAGE COPY", "Completed", at(2.5), at(2.5)),
        ("REDO COPY", "Completed", at(2.5), at(2.6)),
        ("FILE SYNC", "Completed", at(2.6), at(3.0)),
        ("RESTART", "Not Started", None, None),  # a clone into a DATA DIRECTORY
        ("RECOVERY", "In Progress", at(4.0), None),  # no end: left out
        ("SOMETHING NEW", "Completed", at(0), at(1)),  # a stage of a later MySQL: left out
    ]
    assert stage_seconds(rows) == {
        "drop_data": 0.25,
        "file_copy": 2.25,
        "page_copy": 0.0,
        "redo_copy": 0.1,
        "file_sync": 0.4,
    }
