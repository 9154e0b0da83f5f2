"""The rotation's decision table: each row is named after the rule of
:mod:`moco.controllers.rotation` it shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from moco.controllers.rotation import Facts, Phase, RotationState, Step, decide
from moco.controllers.secrets import RotationKeys

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
IDLE = RotationState(last_rotation_id="r0")
ROTATING = RotationState(rotation_id="r1", phase=Phase.ROTATING, last_rotation_id="r0")
APPLIED = replace(ROTATING, rotate_applied=True)
ROTATED = replace(APPLIED, phase=Phase.ROTATED, rotated_time="2026-12-01T11:50:00Z")
JUST_ROTATED = replace(ROTATED, rotated_time="2026-12-01T11:59:30Z")
DISCARDED = replace(ROTATED, discard_applied=True)


def facts(
    state: RotationState,
    rotate: str = "",
    discard: str = "",
    keys: RotationKeys = RotationKeys.NONE,
    keys_id: str = "",
    replicas: int = 3,
    offline: bool = False,
) -> Facts:
    return Facts(state, rotate, discard, keys, keys_id, replicas, offline, NOW)


STAGED, PROMOTED = RotationKeys.STAGED, RotationKeys.PROMOTED

TABLE = [
    ("idle, nothing asked", facts(IDLE), Step.NOTHING, ""),
    ("1a stale rotate annotation", facts(IDLE, rotate="r0"), Step.DROP_ROTATE, ""),
    ("1b stale discard annotation", facts(IDLE, discard="r0"), Step.DROP_DISCARD, ""),
    ("1b discard without a rotation", facts(IDLE, discard="r9"), Step.DROP_DISCARD, "DiscardRefused"),
    ("1b discard set with its rotate is kept", facts(IDLE, rotate="r1", discard="r1"), Step.START, ""),
    (
        "1b discard of another rotation",
        facts(IDLE, rotate="r1", discard="r2"),
        Step.DROP_DISCARD,
        "DiscardRefused",
    ),
    ("1c fresh rotate starts", facts(IDLE, rotate="r1"), Step.START, ""),
    ("1c refused with no instance", facts(IDLE, rotate="r1", replicas=0), Step.REFUSE, "RotateRefused"),
    ("1c refused offline", facts(IDLE, rotate="r1", offline=True), Step.REFUSE, "RotateRefused"),
    (
        "1c refused with leftover _OLD keys",
        facts(IDLE, rotate="r1", keys=PROMOTED, keys_id="r0"),
        Step.REFUSE,
        "RotateRefused",
    ),
    ("1c leftover pending keys are replaced later", facts(IDLE, rotate="r1", keys=STAGED), Step.START, ""),
    ("2a stage", facts(ROTATING), Step.STAGE, ""),
    ("2a stage again over another rotation's", facts(ROTATING, keys=STAGED, keys_id="r0"), Step.STAGE, ""),
    ("2a retain", facts(ROTATING, keys=STAGED, keys_id="r1"), Step.RETAIN, ""),
    (
        "2a retain refused with no instance",
        facts(ROTATING, keys=STAGED, keys_id="r1", replicas=0),
        Step.REFUSE,
        "RotateRefused",
    ),
    (
        "2a promoted before applied is inconsistent",
        facts(ROTATING, keys=PROMOTED, keys_id="r1"),
        Step.REFUSE,
        "RotationInconsistent",
    ),
    ("2b promote", facts(APPLIED, keys=STAGED, keys_id="r1"), Step.PROMOTE, ""),
    ("2b complete", facts(APPLIED, keys=PROMOTED, keys_id="r1"), Step.COMPLETE_ROTATE, ""),
    ("2b keys lost", facts(APPLIED), Step.REFUSE, "RotationInconsistent"),
    (
        "3a own rotate annotation",
        facts(ROTATED, rotate="r1", keys=PROMOTED, keys_id="r1"),
        Step.DROP_ROTATE,
        "",
    ),
    (
        "3a another rotation while rotated",
        facts(ROTATED, rotate="r2", keys=PROMOTED, keys_id="r1"),
        Step.DROP_ROTATE,
        "RotateRefused",
    ),
    ("3b rotated, waiting for the discard", facts(ROTATED, keys=PROMOTED, keys_id="r1"), Step.NOTHING, ""),
    (
        "3b discard of another rotation",
        facts(ROTATED, discard="r9", keys=PROMOTED, keys_id="r1"),
        Step.DROP_DISCARD,
        "DiscardRefused",
    ),
    ("3c discard", facts(ROTATED, discard="r1", keys=PROMOTED, keys_id="r1"), Step.DISCARD, ""),
    (
        "3c discard refused with no instance",
        facts(ROTATED, discard="r1", keys=PROMOTED, keys_id="r1", replicas=0),
        Step.REFUSE,
        "DiscardRefused",
    ),
    (
        "3c discard with the keys gone",
        facts(ROTATED, discard="r1"),
        Step.REFUSE,
        "RotationInconsistent",
    ),
    (
        "3c wait for propagation",
        facts(JUST_ROTATED, discard="r1", keys=PROMOTED, keys_id="r1"),
        Step.WAIT,
        "",
    ),
    ("3d finish", facts(DISCARDED, discard="r1", keys=PROMOTED, keys_id="r1"), Step.FINISH, ""),
    ("3d finish after the keys went", facts(DISCARDED, discard="r1"), Step.FINISH, ""),
]


@pytest.mark.parametrize(("name", "f", "step", "reason"), TABLE, ids=[row[0] for row in TABLE])
def test_decision_table(name: str, f: Facts, step: Step, reason: str) -> None:
    d = decide(f, propagation_s=120)
    assert d.step == step
    assert d.reason == reason
    if reason:
        assert d.message, "a refusal says why"


def test_3c_wait_is_what_is_left_of_the_propagation() -> None:
    d = decide(facts(JUST_ROTATED, discard="r1", keys=PROMOTED, keys_id="r1"), propagation_s=120)
    assert d.wait_s == pytest.approx(90.0)
    later = Facts(
        **{
            **facts(JUST_ROTATED, discard="r1", keys=PROMOTED, keys_id="r1").__dict__,
            "now": NOW + timedelta(minutes=2),
        }
    )
    assert decide(later, propagation_s=120).step == Step.DISCARD


def test_3c_no_rotated_time_waits_the_whole_propagation() -> None:
    d = decide(
        facts(replace(ROTATED, rotated_time=""), discard="r1", keys=PROMOTED, keys_id="r1"), propagation_s=60
    )
    assert d.step == Step.WAIT
    assert d.wait_s == 60


def test_refusals_name_what_to_do() -> None:
    assert "scale it up" in decide(facts(IDLE, rotate="r1", replicas=0)).message
    assert (
        "kubectl moco credential discard"
        in decide(facts(ROTATED, rotate="r2", keys=PROMOTED, keys_id="r1")).message
    )


def test_state_round_trips_through_the_status() -> None:
    for s in (IDLE, ROTATING, APPLIED, ROTATED, DISCARDED):
        assert RotationState.from_status({"systemUserRotation": s.to_status()}) == s
    assert RotationState.from_status(None) == RotationState()
    assert RotationState.from_status({"systemUserRotation": {"phase": ""}}).phase == Phase.IDLE


def test_controller_secret_keys_through_a_rotation() -> None:
    from itertools import count

    from moco.controllers.secrets import Passwords

    n = count()
    pw = Passwords.generate(lambda b: f"{next(n):032x}")
    assert pw.rotation_keys() == RotationKeys.NONE
    staged = pw.staged("r1", lambda b: f"new{next(n):029x}")
    assert staged.rotation_keys() == RotationKeys.STAGED
    assert staged.rotation_id == "r1"
    assert staged.password("moco-admin") == pw.password("moco-admin"), "staging changes no current password"
    restaged = staged.staged("r2", lambda b: f"re{next(n):030x}")
    assert restaged.pending_password("moco-admin") != staged.pending_password("moco-admin")
    promoted = staged.promoted()
    assert promoted.rotation_keys() == RotationKeys.PROMOTED
    assert promoted.password("moco-repl") == staged.pending_password("moco-repl")
    assert promoted.old_password("moco-repl") == pw.password("moco-repl")
    assert promoted.token == pw.token, "the agent token is not a password: not rotated"
    assert not promoted.missing()
    finished = promoted.finished()
    assert finished.rotation_keys() == RotationKeys.NONE
    assert finished.values == {**pw.values, **{k: promoted.values[k] for k in pw.values}}
    half = Passwords({**pw.values, "ADMIN_PASSWORD_PENDING": "x"})
    assert half.rotation_keys() == RotationKeys.INCONSISTENT
    assert "new" not in repr(promoted), "no password in a repr"


def test_error_messages_are_redacted() -> None:
    from moco.controllers.rotator import redacted
    from moco.controllers.secrets import Passwords

    pw = Passwords({"ADMIN_PASSWORD": "0123456789abcdef", "ADMIN_PASSWORD_PENDING": "fedcba9876543210"})
    msg = "(1064) syntax error near 'fedcba9876543210' RETAIN CURRENT PASSWORD; 0123456789abcdef"
    out = redacted(msg, pw)
    assert "fedcba9876543210" not in out
    assert "0123456789abcdef" not in out
    assert "(1064) syntax error near '<redacted>'" in out
