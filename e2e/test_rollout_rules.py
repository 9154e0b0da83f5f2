"""The verdicts of the day-two scenarios (pure, no cluster): the rules a rolling MySQL upgrade
keeps (:func:`e2e.test_scenario_rolling_upgrade.rollout_findings`, one row per rule broken) and
what counts as a restart across an operator upgrade
(:func:`e2e.test_scenario_upgrade.restarts_between`)."""

from __future__ import annotations

import datetime

import pytest

from e2e.test_scenario_rolling_upgrade import Deletion, rollout_findings
from e2e.test_scenario_upgrade import restarts_between

T0 = datetime.datetime(2026, 12, 1, 20, 0, 0, tzinfo=datetime.UTC)


def at(s: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=s)


def switchover(s: float, from_index: int = 0) -> dict[str, object]:
    return {"operation": "Switchover", "fromIndex": from_index, "toIndex": 2, "time": at(s).isoformat()}


#: the rollout as it should be: replicas 2 and 1, then the primary 0 switched over to 2 at 60 s
#: and its Pod's deletion asked at 61 s
GOOD = (Deletion(10, 2, 0, at(10)), Deletion(40, 1, 0, at(40)), Deletion(70, 0, 2, at(61)))
UIDS = {0: ["a0", "b0"], 1: ["a1", "b1"], 2: ["a2", "b2"]}


def test_a_rollout_that_keeps_the_rules() -> None:
    assert rollout_findings(GOOD, UIDS, 0, switchover(60)) == []
    # the same second, as the apiserver and the status write whole seconds
    assert rollout_findings(GOOD, UIDS, 0, switchover(61)) == []


@pytest.mark.parametrize(
    ("rule", "deletions", "uids", "change"),
    [
        # 1. a Pod replaced twice
        ("1:", GOOD, {**UIDS, 1: ["a1", "b1", "c1"]}, switchover(60)),
        # 1. a Pod never replaced
        ("1:", GOOD[1:], {**UIDS, 2: ["a2"]}, switchover(60)),
        # 2. lowest ordinal first
        ("2:", (GOOD[1], GOOD[0], GOOD[2]), UIDS, switchover(60)),
        # 3. a replica's Pod deleted while the status named it the primary
        ("3:", (GOOD[0], Deletion(40, 1, 1, at(40)), GOOD[2]), UIDS, switchover(60)),
        # 4. the primary's Pod not last (the primary at the start was 1)
        ("4:", GOOD, UIDS, switchover(60, from_index=1)),
        # 5. failed over, not switched over
        ("5:", GOOD, UIDS, {**switchover(60), "operation": "Failover"}),
        # 5. switched over after the Pod's deletion was asked (the Pod went down as the primary)
        ("5:", GOOD, UIDS, switchover(62)),
        # 5. the primary's Pod was already replaced when first seen: no time to compare with
        ("5:", (*GOOD[:2], Deletion(70, 0, 2, None)), UIDS, switchover(60)),
    ],
)
def test_each_rule_broken_is_named(
    rule: str,
    deletions: tuple[Deletion, ...],
    uids: dict[int, list[str]],
    change: dict[str, object],
) -> None:
    first_primary = 1 if rule == "4:" else 0
    found = rollout_findings(deletions, uids, first_primary, change)
    assert [f for f in found if f.startswith(rule)], found


def test_restarts_and_re_creations_are_named() -> None:
    before = {"moco-c-0": ("u0", {"mysqld": 0, "agent": 1}), "moco-c-1": ("u1", {"mysqld": 2})}
    assert restarts_between(before, before) == []
    after = {"moco-c-0": ("u0", {"mysqld": 1, "agent": 1}), "moco-c-1": ("u9", {"mysqld": 0})}
    assert restarts_between(before, after) == [
        "moco-c-0/mysqld restarted (0 -> 1)",
        "moco-c-1 was re-created (u1 -> u9)",
        "moco-c-1/mysqld restarted (2 -> 0)",
    ]
    assert restarts_between(before, {"moco-c-0": before["moco-c-0"]}) == ["moco-c-1 is gone"]
