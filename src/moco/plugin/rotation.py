"""``kubectl moco credential rotate`` / ``discard``: when they apply, and the patch they make.

Both only set MOCO's annotations on the MySQLCluster; the controller does the work
(:mod:`moco.controllers.rotation`). These checks are for the operator's convenience, to fail
fast with a message that says what to do; the controller checks again and stays the authority.
In order, a command is refused when:

1. the cluster is offline (no mysqld runs: no ALTER USER can);
2. its reconciliation is stopped (the rotation runs in the reconciler) or its clustering is
   stopped (the cluster may be in the middle of a manual operation);
3. it is not Healthy (a rotation would pile onto an existing failure);
4. ``rotate``: a rotation is in progress (``status.systemUserRotation.phase`` is not Idle);
   ``discard``: no rotation is ``Rotated`` (nothing to discard, or still rotating).

A command whose annotation is already in place changes nothing and says so (exit 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moco import constants
from moco.plugin.errors import Refused


@dataclass(frozen=True)
class RotationView:
    """What the commands need of a MySQLCluster."""

    ref: str
    name: str
    offline: bool
    healthy: bool
    annotations: Mapping[str, str]
    phase: str
    rotation_id: str

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> RotationView:
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        rotation = status.get("systemUserRotation") or {}
        healthy = any(
            c.get("type") == "Healthy" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        return cls(
            ref=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
            name=str(meta.get("name", "")),
            offline=bool((obj.get("spec") or {}).get("offline")),
            healthy=healthy,
            annotations=dict(meta.get("annotations") or {}),
            phase=str(rotation.get("phase") or "Idle"),
            rotation_id=str(rotation.get("rotationID") or ""),
        )


def _common_refusal(c: RotationView, verb: str) -> str | None:
    if c.offline:  # 1
        return f"cannot {verb}: MySQLCluster {c.ref} is offline (spec.offline: true); set it online first"
    if c.annotations.get(constants.ANN_RECONCILIATION_STOPPED) == "true":  # 2
        return (
            f"cannot {verb}: the reconciliation of MySQLCluster {c.ref} is stopped; "
            f"run `kubectl moco start reconciliation {c.name}` first"
        )
    if c.annotations.get(constants.ANN_CLUSTERING_STOPPED) == "true":
        return (
            f"cannot {verb}: the clustering of MySQLCluster {c.ref} is stopped; "
            f"run `kubectl moco start clustering {c.name}` first"
        )
    if not c.healthy:  # 3
        return (
            f"cannot {verb}: MySQLCluster {c.ref} is not Healthy; "
            f"see `kubectl moco status {c.name}` and try again once it is"
        )
    return None


def rotate_patch(c: RotationView, rotation_id: str) -> dict[str, Any] | None:
    """The annotation that asks for rotation ``rotation_id`` (None: one is asked for already);
    raises :class:`Refused`."""
    if refusal := _common_refusal(c, "rotate passwords"):
        raise Refused(refusal)
    if c.phase != "Idle":  # 4
        raise Refused(
            f"cannot rotate passwords: rotation {c.rotation_id} of MySQLCluster {c.ref} is {c.phase}; "
            + (
                f"discard its old passwords first with `kubectl moco credential discard {c.name}`"
                if c.phase == "Rotated"
                else "wait until it is Rotated, then discard its old passwords"
            )
        )
    if c.annotations.get(constants.ANN_PASSWORD_ROTATE):
        return None
    return {"metadata": {"annotations": {constants.ANN_PASSWORD_ROTATE: rotation_id}}}


def discard_patch(c: RotationView) -> dict[str, Any] | None:
    """The annotation that asks for the discard of the rotation in progress (None: asked for
    already); raises :class:`Refused`."""
    if refusal := _common_refusal(c, "discard old passwords"):
        raise Refused(refusal)
    if c.phase != "Rotated":  # 4
        if c.phase == "Idle":
            raise Refused(
                f"cannot discard old passwords: no rotation of MySQLCluster {c.ref} is in progress; "
                f"start one with `kubectl moco credential rotate {c.name}`"
            )
        raise Refused(
            f"cannot discard old passwords: rotation {c.rotation_id} of MySQLCluster {c.ref} is {c.phase}, "
            "not Rotated yet; try again once it is"
        )
    if c.annotations.get(constants.ANN_PASSWORD_DISCARD) == c.rotation_id:
        return None
    return {"metadata": {"annotations": {constants.ANN_PASSWORD_DISCARD: c.rotation_id}}}
