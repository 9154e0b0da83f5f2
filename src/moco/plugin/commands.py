"""What each subcommand does against the apiserver; each returns the text to print.

The decisions are :mod:`moco.plugin.actions`'; these functions read, decide, patch and word the
outcome. A refusal raises before anything is written.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from moco import constants
from moco.api import names
from moco.kube.store import Obj
from moco.plugin import actions, rotation, status
from moco.plugin.actions import ClusterView, Switch
from moco.plugin.errors import Refused, WaitTimedOut
from moco.plugin.live import Live, NotRead
from moco.plugin.session import Session

#: How often ``switchover --wait`` looks again.
WAIT_INTERVAL: Final = 1.0


async def switchover(session: Session, name: str, *, wait: float | None = None) -> str:
    """Ask for a switchover (the demote annotation on the primary's Pod); optionally wait for it.

    ``wait``: seconds to wait until the switchover is over (:func:`_wait_primary_change`).
    """
    cluster = ClusterView.from_obj(await session.cluster(name))
    refusal = actions.switchover_refusal(cluster)
    if refusal:
        raise Refused(refusal)
    old = cluster.current_primary_index
    pod_name = cluster.pod_name(old)
    pod = await session.pod(name, pod_name)
    patch = actions.demote_patch(pod)
    if patch is None:
        said = (
            f"a switchover of MySQLCluster {cluster.ref} is already requested "
            f"({pod_name} is marked to demote)"
        )
    else:
        await session.patch_pod(name, pod_name, patch)
        said = (
            f"switchover of MySQLCluster {cluster.ref} requested: the primary {pod_name} is marked to demote"
        )
    if wait is None:
        return said + f"\nfollow it with `kubectl moco status {name}`\n"
    new = await _wait_primary_change(session, name, pod_name, old, wait)
    return said + f"\nthe primary is now {names.pod_name(name, new)} (instance {new})\n"


async def _wait_primary_change(session: Session, name: str, pod_name: str, old: int, limit: float) -> int:
    """Until the switchover is over as a client sees it: ``status.currentPrimaryIndex`` names
    another instance, the demote annotation is gone (the loop removes it last) and the new
    primary's Pod carries the primary role label (what the primary Service selects)."""
    deadline = time.monotonic() + limit
    while True:
        cluster = ClusterView.from_obj(await session.cluster(name))
        new = cluster.current_primary_index
        if new != old and _is_done(
            await session.pod(name, pod_name), await session.pod(name, cluster.pod_name(new))
        ):
            return new
        if time.monotonic() >= deadline:
            raise WaitTimedOut(
                f"MySQLCluster {cluster.ref}: no switchover within {limit:.0f}s; the request stays "
                f"(the demote annotation on {pod_name}); see `kubectl moco status {name}`"
            )
        await asyncio.sleep(WAIT_INTERVAL)


def _is_done(old_pod: Obj, new_pod: Obj) -> bool:
    labels = (new_pod.get("metadata") or {}).get("labels") or {}
    return (
        actions.demote_patch(old_pod) is not None
        and labels.get(constants.LABEL_ROLE) == constants.ROLE_PRIMARY
    )


async def set_switch(session: Session, name: str, switch: Switch, *, stop: bool) -> str:
    """``stop``/``start`` ``clustering``/``reconciliation``."""
    cluster = ClusterView.from_obj(await session.cluster(name))
    patch = actions.switch_patch(cluster, switch, stop=stop)
    verb = "stopped" if stop else "started"
    if patch is None:
        state = "stopped" if stop else "running"
        return f"{switch.noun} of MySQLCluster {cluster.ref} is already {state}\n"
    await session.patch_cluster(name, patch)
    return f"{verb} {switch.noun} of MySQLCluster {cluster.ref}\n"


async def credential(session: Session, name: str, user: str, fmt: str) -> str:
    """``user``'s password of ``name`` in ``fmt``."""
    secret = await session.user_secret(name)
    return actions.credential_text(user, actions.password_of(secret, user, session.ref(name)), fmt)


async def credential_rotate(session: Session, name: str, *, new_id: str | None = None) -> str:
    """Ask for a rotation of the passwords of moco's users (MOCO's ``password-rotate``
    annotation, whose value is a new rotation ID)."""
    c = rotation.RotationView.from_obj(await session.cluster(name))
    rotation_id = new_id or str(uuid.uuid4())
    patch = rotation.rotate_patch(c, rotation_id)
    if patch is None:
        asked = c.annotations.get(constants.ANN_PASSWORD_ROTATE, "")
        return f"a password rotation of MySQLCluster {c.ref} is already requested (rotationID {asked})\n"
    await session.patch_cluster(name, patch)
    return (
        f"password rotation {rotation_id} of MySQLCluster {c.ref} requested\n"
        f"once it is Rotated (kubectl get mysqlcluster {name} "
        "-o jsonpath='{.status.systemUserRotation.phase}'), old and new passwords both work; "
        "after checking your clients, run "
        f"`kubectl moco credential discard {name}`\n"
    )


async def credential_discard(session: Session, name: str) -> str:
    """Ask for the discard of the old passwords (MOCO's ``password-discard`` annotation, valued
    with the rotation's ID)."""
    c = rotation.RotationView.from_obj(await session.cluster(name))
    patch = rotation.discard_patch(c)
    if patch is None:
        return f"the discard of rotation {c.rotation_id} of MySQLCluster {c.ref} is already requested\n"
    await session.patch_cluster(name, patch)
    return (
        f"discard of the old passwords of rotation {c.rotation_id} of MySQLCluster {c.ref} requested\n"
        f"the rotation is over when status.systemUserRotation.lastRotationID is {c.rotation_id}\n"
    )


#: Reads the figures of the instances named ``{index: Pod name}`` (:func:`moco.plugin.live.read_all`).
LiveReader = Callable[[Mapping[int, str]], Awaitable[dict[int, Live]]]


async def report(session: Session, name: str, read_live: LiveReader | None = None) -> status.Report:
    """The status report of ``name``; with ``read_live``, each running instance's figures too
    (a Pod that is not Running is reported as not read, without trying)."""
    obj = await session.cluster(name)
    cluster = ClusterView.from_obj(obj)
    pods = await session.pods(name)
    pod_names = [cluster.pod_name(i) for i in range(cluster.replicas)]
    events = await session.events(name, pod_names)
    live: dict[int, Live] | None = None
    if read_live is not None:
        phases = {(p.get("metadata") or {}).get("name"): (p.get("status") or {}).get("phase") for p in pods}
        running = {i: n for i, n in enumerate(pod_names) if phases.get(n) == "Running"}
        live = {
            i: NotRead(f"Pod is {phases[n] or 'not started'}")
            for i, n in enumerate(pod_names)
            if n in phases and i not in running
        }
        live |= await read_live(running) if running else {}
    return status.build(obj, pods, events, live)


async def mysql_pod(session: Session, name: str, index: int | None) -> str:
    """The Pod ``mysql`` runs in; refused when it cannot run there."""
    cluster = ClusterView.from_obj(await session.cluster(name))
    chosen = actions.pick_index(cluster, index)
    pod_name = cluster.pod_name(chosen)
    pod = await session.pod(name, pod_name)
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise Refused(
            f"Pod {pod_name} of MySQLCluster {cluster.ref} is {phase or 'not started'}, not Running; "
            f"see `kubectl moco status {name}`"
        )
    return pod_name
