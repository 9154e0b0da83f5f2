"""Credential rotation of moco's MySQL users: what to do next (pure), by MOCO's triggers.

A rotation is asked for by the annotation ``moco.cybozu.com/password-rotate: <rotationID>`` on
the MySQLCluster (``kubectl moco credential rotate`` sets it with a new ID) and ended by
``moco.cybozu.com/password-discard: <rotationID>`` with the same ID (``kubectl moco credential
discard``). Its state lives in the API only, in two places written one at a time:
``status.systemUserRotation`` (MOCO's field) and the controller Secret's rotation keys
(:class:`~moco.controllers.secrets.RotationKeys`). A controller that restarts anywhere reads
both again and goes on; :func:`decide` is that reading.

The invariant every step keeps (the one MOCO's later design rests on): **the controller
Secret's current passwords authenticate on every instance**. New passwords are staged as
``_PENDING`` keys, applied to every instance with ``RETAIN CURRENT PASSWORD`` (old and new both
work there), and only then promoted to current, the old ones kept as ``_OLD``; the reconciler
distributes the current passwords as always, so every consumer that reads a Secret moves to the
new ones while the old ones still work. ``DISCARD OLD PASSWORD`` runs only once the discard is
asked for, every Secret carries the new passwords, every replica's source password is the new
one, and the Pods' mounted copies of the Secrets have had ``propagation_s`` to follow.

:func:`decide` picks the single next :class:`Step`; its rules, in order of precedence:

1. ``Idle`` (or no status):
   a. a rotate annotation equal to ``lastRotationID`` is stale (left by an interrupted
      annotation removal): it is removed, nothing starts;
   b. a discard annotation is removed (equal to ``lastRotationID``: stale; otherwise there is no
      rotation to discard, and a Warning says so), unless it names the rotation the rotate
      annotation asks for: set together, both are kept, the rotation runs first and the
      discard follows once ``Rotated`` (never in the same step: MOCO's two phases);
   c. a fresh rotate annotation starts a rotation (:attr:`Step.START`), refused while the
      cluster has no running instance (``replicas: 0`` or ``offline``) or while the Secret holds
      rotation keys of an earlier rotation (a hand edit or a lost status: to be looked at);
2. ``Rotating``:
   a. before ``rotateApplied``: :attr:`Step.STAGE` until the Secret holds this rotation's
      ``_PENDING`` keys, then :attr:`Step.RETAIN` (refused without a running instance);
   b. after ``rotateApplied``: :attr:`Step.PROMOTE` while the keys are staged, then
      :attr:`Step.COMPLETE_ROTATE` (distribution checked, replicas re-pointed, ``Rotated``);
3. ``Rotated``:
   a. a rotate annotation is removed (its own ID: silently; another: a Warning, the rotation in
      progress must be discarded first);
   b. no discard annotation: nothing; one with another ID: removed with a Warning;
   c. before ``discardApplied``: refused without a running instance; :attr:`Step.WAIT` until
      ``rotatedTime + propagation_s``; then :attr:`Step.DISCARD`;
   d. after ``discardApplied``: :attr:`Step.FINISH` (``_OLD`` keys dropped, ``Idle``).

Rotation keys that do not match the phase (rules 2 and 3) stop the rotation with a Warning
(:attr:`Step.REFUSE`) rather than guess: the controller never repairs a hand-edited Secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from moco.controllers.secrets import RotationKeys

#: Seconds a Pod's mounted Secret may lag behind the Secret: kubelet refreshes a Secret volume
#: at the Pod's periodic sync (``syncFrequency``, 1 minute by default, jittered by up to half of
#: it). The discard waits this long after the new passwords were distributed.
DEFAULT_PROPAGATION_S: Final = 120.0


class Phase(StrEnum):
    IDLE = "Idle"
    ROTATING = "Rotating"
    ROTATED = "Rotated"


class Step(StrEnum):
    NOTHING = "Nothing"
    DROP_ROTATE = "DropRotateAnnotation"
    DROP_DISCARD = "DropDiscardAnnotation"
    REFUSE = "Refuse"
    START = "Start"
    STAGE = "Stage"
    RETAIN = "Retain"
    PROMOTE = "Promote"
    COMPLETE_ROTATE = "CompleteRotate"
    WAIT = "Wait"
    DISCARD = "Discard"
    FINISH = "Finish"


@dataclass(frozen=True)
class RotationState:
    """``status.systemUserRotation``."""

    rotation_id: str = ""
    phase: Phase = Phase.IDLE
    rotate_applied: bool = False
    discard_applied: bool = False
    last_rotation_id: str = ""
    rotated_time: str = ""

    @classmethod
    def from_status(cls, status: dict[str, Any] | None) -> RotationState:
        s = (status or {}).get("systemUserRotation") or {}
        return cls(
            rotation_id=str(s.get("rotationID") or ""),
            phase=Phase(s.get("phase") or Phase.IDLE),
            rotate_applied=bool(s.get("rotateApplied")),
            discard_applied=bool(s.get("discardApplied")),
            last_rotation_id=str(s.get("lastRotationID") or ""),
            rotated_time=str(s.get("rotatedTime") or ""),
        )

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rotationID": self.rotation_id,
            "phase": str(self.phase),
            "rotateApplied": self.rotate_applied,
            "discardApplied": self.discard_applied,
            "lastRotationID": self.last_rotation_id,
        }
        if self.rotated_time:
            out["rotatedTime"] = self.rotated_time
        return out


@dataclass(frozen=True)
class Facts:
    """Everything :func:`decide` looks at, read fresh from the API at each reconcile."""

    state: RotationState
    rotate_annotation: str
    discard_annotation: str
    #: the controller Secret's rotation keys and the rotation they belong to
    keys: RotationKeys
    keys_rotation_id: str
    replicas: int
    offline: bool
    now: datetime


@dataclass(frozen=True)
class Decision:
    step: Step
    #: why, for the Warning of a refusal or a dropped annotation ("" = drop silently)
    message: str = ""
    #: the Event reason of a refusal
    reason: str = ""
    #: seconds to wait (:attr:`Step.WAIT`)
    wait_s: float = 0.0


def _no_instance(f: Facts) -> str:
    if f.offline:
        return "the cluster is offline (spec.offline): bring it online first"
    if f.replicas <= 0:
        return "the cluster has no instance (spec.replicas is 0): scale it up first"
    return ""


def _keys_mismatch(f: Facts, expected: RotationKeys) -> Decision | None:
    if f.keys == expected and f.keys_rotation_id == f.state.rotation_id:
        return None
    return Decision(
        Step.REFUSE,
        f"rotation {f.state.rotation_id} is {f.state.phase}, but the controller Secret holds "
        f"{f.keys.value} rotation keys of rotation {f.keys_rotation_id or '(none)'}: inspect the "
        "Secret's _PENDING/_OLD keys and ROTATION_ID (see the README's credential rotation section)",
        "RotationInconsistent",
    )


def decide(f: Facts, *, propagation_s: float = DEFAULT_PROPAGATION_S) -> Decision:
    """The next step of the rotation (the module's rules, in order)."""
    s = f.state
    rot, dis = f.rotate_annotation, f.discard_annotation
    if s.phase == Phase.IDLE:
        if rot and rot == s.last_rotation_id:  # 1a
            return Decision(Step.DROP_ROTATE)
        if dis and dis != rot:  # 1b
            if dis == s.last_rotation_id:
                return Decision(Step.DROP_DISCARD)
            return Decision(
                Step.DROP_DISCARD,
                f"no rotation to discard (rotation {dis} is not in progress): rotate first",
                "DiscardRefused",
            )
        if not rot:
            return Decision(Step.NOTHING)
        if why := _no_instance(f):  # 1c
            return Decision(Step.REFUSE, f"cannot rotate passwords: {why}", "RotateRefused")
        if f.keys in (RotationKeys.PROMOTED, RotationKeys.INCONSISTENT):
            return Decision(
                Step.REFUSE,
                f"cannot rotate passwords: the controller Secret holds {f.keys.value} rotation keys of "
                f"rotation {f.keys_rotation_id or '(none)'}: inspect its _PENDING/_OLD keys first",
                "RotateRefused",
            )
        return Decision(Step.START)
    if s.phase == Phase.ROTATING:
        if not s.rotate_applied:  # 2a
            if f.keys == RotationKeys.STAGED and f.keys_rotation_id == s.rotation_id:
                if why := _no_instance(f):
                    return Decision(Step.REFUSE, f"cannot rotate passwords: {why}", "RotateRefused")
                return Decision(Step.RETAIN)
            if f.keys in (RotationKeys.NONE, RotationKeys.STAGED):
                return Decision(Step.STAGE)
            return _keys_mismatch(f, RotationKeys.STAGED) or Decision(Step.STAGE)
        if f.keys == RotationKeys.STAGED and f.keys_rotation_id == s.rotation_id:  # 2b
            return Decision(Step.PROMOTE)
        return _keys_mismatch(f, RotationKeys.PROMOTED) or Decision(Step.COMPLETE_ROTATE)
    # Phase.ROTATED
    if rot:  # 3a
        if rot == s.rotation_id:
            return Decision(Step.DROP_ROTATE)
        return Decision(
            Step.DROP_ROTATE,
            f"rotation {s.rotation_id} is in progress: discard its old passwords "
            f"(kubectl moco credential discard) before rotating again",
            "RotateRefused",
        )
    if not dis:  # 3b
        return Decision(Step.NOTHING)
    if dis != s.rotation_id:
        return Decision(
            Step.DROP_DISCARD,
            f"the discard names rotation {dis}, but rotation {s.rotation_id} is in progress",
            "DiscardRefused",
        )
    if not s.discard_applied:  # 3c
        if mismatch := _keys_mismatch(f, RotationKeys.PROMOTED):
            return mismatch
        if why := _no_instance(f):
            return Decision(Step.REFUSE, f"cannot discard old passwords: {why}", "DiscardRefused")
        remaining = _remaining(s.rotated_time, f.now, propagation_s)
        if remaining > 0:
            return Decision(Step.WAIT, wait_s=remaining)
        return Decision(Step.DISCARD)
    return Decision(Step.FINISH)  # 3d


def _remaining(rotated_time: str, now: datetime, propagation_s: float) -> float:
    """Seconds left of the propagation wait (a missing or unreadable time waits the whole of it
    from ``now`` on the next write: never shorter than asked)."""
    if not rotated_time:
        return propagation_s
    try:
        since = datetime.fromisoformat(rotated_time.replace("Z", "+00:00"))
    except ValueError:
        return propagation_s
    return max(0.0, propagation_s - (now - since).total_seconds())
