"""The failover evidence tally (moco.clustering.evidence): its two rules, as a table."""

from __future__ import annotations

import pytest

from moco.clustering.config import ProcessConfig
from moco.clustering.evidence import DownTally, confirmed, count_failure, why

CFG = ProcessConfig(failover_tries=3, failover_after=2.0, refused_after=0.5)


def tally(*tries: tuple[float, bool], index: int = 0) -> DownTally | None:
    """The tally after failed tries at (time, refused)."""
    t: DownTally | None = None
    for at, refused in tries:
        t = count_failure(t, index, at, refused=refused)
    return t


CASES = [
    # (name, tries (time, refused), now, confirmed)
    ("one refused try is never enough", [(0.0, True)], 5.0, False),
    ("rule 1: two refusals 0.5 s apart", [(0.0, True), (0.5, True)], 0.5, True),
    ("rule 1: two refusals too close", [(0.0, True), (0.2, True)], 0.4, False),
    ("rule 1 needs every try refused", [(0.0, False), (0.5, True)], 0.5, False),
    ("rule 2: three silent tries over 2 s", [(0.0, False), (1.0, False), (2.0, False)], 2.0, True),
    ("rule 2: three silent tries within 1 s", [(0.0, False), (0.5, False), (1.0, False)], 1.0, False),
    ("rule 2: two silent tries over 5 s", [(0.0, False), (5.0, False)], 5.0, False),
    ("rule 2 also counts refusals", [(0.0, False), (1.0, True), (2.0, True)], 2.0, True),
]


@pytest.mark.parametrize(("tries", "now", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules(tries: list[tuple[float, bool]], now: float, expected: bool) -> None:
    assert confirmed(tally(*tries), 0, now, CFG) is expected


def test_a_pass_counts_several_tries_at_once() -> None:
    t = count_failure(None, 0, 0.0, tries=3)
    assert not confirmed(t, 0, 1.9, CFG)
    assert confirmed(t, 0, 2.0, CFG)


def test_another_index_starts_over_and_is_never_confirmed_for_the_old_one() -> None:
    t = tally((0.0, False), (1.0, False), (2.0, False))
    assert not confirmed(t, 1, 2.0, CFG), "the tally is primary 0's"
    t2 = count_failure(t, 1, 3.0, refused=True)
    assert t2 == DownTally(index=1, since=3.0, tries=1, refused_only=True)


def test_no_tally_is_no_evidence() -> None:
    assert not confirmed(None, 0, 100.0, CFG)


def test_the_reason_says_which_rule() -> None:
    assert "refuses" in why(tally((0.0, True), (0.5, True)))
    assert "does not answer" in why(tally((0.0, False)))
