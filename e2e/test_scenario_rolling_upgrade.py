"""MySQL upgrade, rolling: the mysqld image of a running 3-instance cluster changes under writes.

Only one MySQL version is installable here (sid's 9.7), so the new image is a real rebuild of
it: the same root plus a marker file in its own top layer, under another tag
(:func:`e2e.local.images.mysql_image` with ``rebuild``), or the image named by
``MOCO_E2E_MYSQL_UPGRADE_IMAGE`` (already on the nodes). The cluster is patched to it while the
acknowledged-write checker writes through the primary, and a poller records, for every Pod, when
it was deleted, what role it had then and which instance was the primary. Then:

* every Pod was replaced exactly once and runs the new image (the marker is in its mysqld
  container);
* the replicas were replaced first and the Pod of the primary last, and no Pod was deleted while
  it was the primary: the status named another primary when each deletion was seen, and the
  switchover (``status.clustering.lastPrimaryChange``) happened before the deletion of the last
  Pod was asked (the apiserver's clock: ``deletionTimestamp`` less the grace period);
* every acknowledged write is on every instance, and the cluster is Healthy.

Recorded: ``rolling_upgrade_unavailable_s`` (the longest time between two acknowledged writes:
the switchover's write unavailability), ``rolling_upgrade_s`` (patch to Healthy with every Pod
updated), ``rolling_upgrade_acknowledged``, ``rolling_upgrade_write_errors``.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from e2e import moco_cluster as mc
from e2e.conftest import is_local_cluster
from e2e.kubectl import Kubectl, KubectlError
from e2e.mysql_access import MYSQL_PORT, READONLY, WRITABLE, access
from e2e.writes import SETTLE_ACKS, WARMUP_ACKS
from moco.mysql.conn import Endpoint
from moco.testing.checker import WriteChecker

#: cluster creation (up to 10 minutes) + three Pods replaced one at a time under writes.
pytestmark = pytest.mark.timeout(1800)

NAME = "rolling"
REBUILD = "upgrade"
MARKER = "/etc/moco-mysql-rebuild"
#: three Pods, each: preStop (20 s), mysqld shutdown and start, the agent's readiness, catch-up
ROLLOUT_TIMEOUT_S = 900.0
SELECTOR = f"app.kubernetes.io/name=mysql,app.kubernetes.io/instance={NAME}"


def upgraded_image(kube: Kubectl) -> str:
    """The rebuilt MySQL image's reference, on every node."""
    if "MOCO_E2E_MYSQL_UPGRADE_IMAGE" in os.environ:
        return os.environ["MOCO_E2E_MYSQL_UPGRADE_IMAGE"]
    assert is_local_cluster(kube.kubeconfig), (
        "only the local provider builds the second MySQL image: set MOCO_E2E_MYSQL_UPGRADE_IMAGE "
        "to a mysqld image on the nodes other than the cluster's"
    )
    from e2e.local import images, node
    from e2e.local import spec as local_spec

    img = images.mysql_image(REBUILD)
    for n in local_spec.current().node_specs:
        images.load(node.ctr_argv(n), {"mysql": img}, n.name)
    return img.ref


@dataclass(frozen=True)
class Deletion:
    """A mysqld Pod seen terminating (or already replaced)."""

    at: float
    index: int
    #: the cluster's primary (status) when the deletion was seen
    primary_index: int
    #: when the deletion was asked (the apiserver's clock: deletionTimestamp - grace period)
    requested: datetime.datetime | None


@dataclass
class RolloutWatch:
    """Polls the cluster's Pods and status from a thread: deletions in order, and the Pod IPs."""

    k: Kubectl
    interval: float = 0.5
    deletions: list[Deletion] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    _uids: dict[int, str] = field(default_factory=dict)
    #: Pod index -> every UID seen, in order (one replacement: two UIDs)
    uids: dict[int, list[str]] = field(default_factory=dict)
    _primary: int = -1
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def poll(self) -> None:
        status = self.k.get("mysqlcluster", NAME).get("status") or {}
        self._primary = int(status.get("currentPrimaryIndex", self._primary))
        pods = self.k.get("pods", "-l", SELECTOR)["items"]
        now = time.monotonic()
        seen = {d.index for d in self.deletions}
        for p in pods:
            index = int(p["metadata"]["name"].rsplit("-", 1)[1])
            uid = p["metadata"]["uid"]
            first = self._uids.setdefault(index, uid)
            seen_uids = self.uids.setdefault(index, [])
            if not seen_uids or seen_uids[-1] != uid:
                seen_uids.append(uid)
            gone = p["metadata"].get("deletionTimestamp") or uid != first
            if gone and index not in seen:
                self.deletions.append(Deletion(now, index, self._primary, _requested(p)))
        self.ips = [p["status"]["podIP"] for p in pods if (p.get("status") or {}).get("podIP")]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except (KubectlError, subprocess.TimeoutExpired, KeyError, ValueError):
                continue  # a transient API error: the next poll sees the same or later state

    def start(self) -> None:
        self.poll()
        self._thread = threading.Thread(target=self._run, name="rollout watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def _requested(pod: dict[str, Any]) -> datetime.datetime | None:
    meta = pod["metadata"]
    if not meta.get("deletionTimestamp"):
        return None  # already replaced when seen
    at = datetime.datetime.fromisoformat(meta["deletionTimestamp"].replace("Z", "+00:00"))
    return at - datetime.timedelta(seconds=int(meta.get("deletionGracePeriodSeconds") or 0))


def rollout_findings(
    deletions: Sequence[Deletion],
    uids: Mapping[int, Sequence[str]],
    first_primary: int,
    change: Mapping[str, Any],
) -> list[str]:
    """Every rule of a rolling MySQL upgrade the rollout broke, said in words (none: it kept them).

    1. Every Pod was replaced exactly once (two UIDs seen per ordinal).
    2. The Pods were replaced highest ordinal first (the StatefulSet's order, one at a time).
    3. No Pod was deleted while the status named it the primary.
    4. The Pod of the primary at the start went last (a new cluster's primary is instance 0).
    5. That primary was switched over (``lastPrimaryChange``: a switchover from it), at or before
       its Pod's deletion was asked -- not failed over after it (the status's ``Switchover``).
    """
    out = []
    replaced = {i: len(u) - 1 for i, u in sorted(uids.items())}
    if sorted(replaced.values()) != [1] * len(replaced) or len(deletions) != len(replaced):
        out.append(
            f"1: Pods replaced (ordinal: times) {replaced}, deletions seen {[d.index for d in deletions]}"
        )
    order = [d.index for d in deletions]
    if order != sorted(order, reverse=True):
        out.append(f"2: Pods replaced in the order {order}, not highest ordinal first")
    out += [
        f"3: Pod {d.index} was deleted while it was the primary"
        for d in deletions
        if d.primary_index == d.index
    ]
    if not deletions or deletions[-1].index != first_primary:
        out.append(f"4: the primary at the start ({first_primary}) was not replaced last: {order}")
        return out
    last = deletions[-1]
    if change.get("operation") != "Switchover" or change.get("fromIndex") != first_primary:
        out.append(f"5: the last primary change is not a switchover from {first_primary}: {dict(change)}")
    elif last.requested is None:
        out.append(f"5: Pod {last.index}'s deletion was not seen while it terminated")
    else:
        switched = datetime.datetime.fromisoformat(str(change["time"]).replace("Z", "+00:00"))
        if switched > last.requested:
            out.append(
                f"5: switchover at {switched}, after Pod {last.index}'s deletion was asked "
                f"at {last.requested}"
            )
    return out


def mysqld_images(k: Kubectl) -> dict[str, str]:
    pods = k.get("pods", "-l", SELECTOR)["items"]
    return {
        p["metadata"]["name"]: next(c["image"] for c in p["spec"]["containers"] if c["name"] == "mysqld")
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
    }


def rolled_out(k: Kubectl, image: str) -> bool:
    sts = k.get("statefulset", f"moco-{NAME}")
    st = sts.get("status") or {}
    images = mysqld_images(k)
    return (
        len(images) == 3
        and set(images.values()) == {image}
        and st.get("updatedReplicas") == 3
        and st.get("currentRevision") == st.get("updateRevision")
        and mc.is_healthy(k, NAME)
    )


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "rolling") as k:
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=3))
        mc.wait_healthy(k, NAME)
        yield k


async def test_mysqld_image_rolls_replicas_first_under_writes(
    k: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    new_image = await asyncio.to_thread(upgraded_image, k)
    old_images = set(mysqld_images(k).values())
    assert new_image not in old_images, f"the cluster already runs {new_image}"
    first_primary = mc.primary_index(k, NAME)
    watch = RolloutWatch(k)
    await asyncio.to_thread(watch.start)

    with access(k, NAME) as acc:
        password = acc.primary(READONLY).password

        def instances() -> list[Endpoint]:
            if not acc.direct:
                return []
            return [Endpoint(ip, MYSQL_PORT, READONLY[0], password) for ip in list(watch.ips)]

        chk = WriteChecker(
            primary=acc.primary,
            instances=instances if acc.direct else None,
            connect_timeout=2.0,
            write_timeout=5.0,
        )
        await chk.setup(timeout=60)
        chk.start()
        try:
            await _acks(chk, WARMUP_ACKS, 0.0, k)
            # a merge patch replaces the list: the minimal cluster's only container is mysqld
            containers = [{"name": "mysqld", "image": new_image}]
            patch = json.dumps({"spec": {"podTemplate": {"spec": {"containers": containers}}}})
            t0 = time.monotonic()
            await asyncio.to_thread(k, "patch", "mysqlcluster", NAME, "--type=merge", "-p", patch)
            await asyncio.to_thread(
                mc.wait,
                k,
                NAME,
                f"every Pod on {new_image}, Healthy",
                lambda: rolled_out(k, new_image),
                ROLLOUT_TIMEOUT_S,
                3.0,
            )
            rollout_s = time.monotonic() - t0
            await _acks(chk, SETTLE_ACKS, time.monotonic(), k)
        finally:
            await chk.stop()
            await asyncio.to_thread(watch.stop)
        reports = [("primary", await chk.verify(acc.primary(WRITABLE)))]
        for ep in await asyncio.to_thread(acc.instances, READONLY):
            reports.append((ep.address, await _verified(chk, ep)))

    gaps = chk.gaps()
    unavailable = max((g.seconds for g in gaps), default=0.0)
    record_testsuite_property("rolling_upgrade_s", round(rollout_s, 1))
    record_testsuite_property("rolling_upgrade_unavailable_s", round(unavailable, 3))
    record_testsuite_property("rolling_upgrade_acknowledged", len(chk.acks))
    record_testsuite_property("rolling_upgrade_write_errors", chk.errors)
    timeline = [
        {"after_s": round(d.at - t0, 1), "pod": d.index, "primary": d.primary_index} for d in watch.deletions
    ]
    record_testsuite_property("rolling_upgrade_deletions", json.dumps(timeline))
    bad = [(where, rep.describe()) for where, rep in reports if not rep.ok]
    assert not bad, f"acknowledged writes lost or split brain: {bad}\n{mc.diagnostics(k, NAME)}"

    # the primary was switched over (not failed over) before its Pod's deletion was asked
    change = (mc.status(k, NAME).get("clustering") or {}).get("lastPrimaryChange") or {}
    record_testsuite_property("rolling_upgrade_primary_change", json.dumps(change))
    assert first_primary == 0, f"a new cluster's first primary is instance 0, got {first_primary}"
    broken = rollout_findings(watch.deletions, watch.uids, first_primary, change)
    assert not broken, f"rules of the rolling upgrade broken: {broken}\n{watch.deletions}"
    assert mc.primary_index(k, NAME) != first_primary, "the primary was never switched over"
    assert gaps, "no primary change seen by the writer: the primary's Pod was never replaced"
    for pod in mysqld_images(k):
        marker = k("exec", pod, "-c", "mysqld", "--", "cat", MARKER).strip()
        assert marker == REBUILD, f"{pod} does not run the rebuilt image"


async def _acks(chk: WriteChecker, n: int, after: float, k: Kubectl) -> None:
    deadline = time.monotonic() + 120
    while chk.acked_after(after) < n:
        if time.monotonic() > deadline:
            diag = await asyncio.to_thread(mc.diagnostics, k, NAME)
            raise AssertionError(
                f"{chk.acked_after(after)} of {n} writes acknowledged in 120s ({chk.errors} errors)\n{diag}"
            )
        await asyncio.sleep(0.1)


async def _verified(chk: WriteChecker, ep: Endpoint) -> Any:
    """The instance's report once it has caught up (a replica may lag for a moment)."""
    deadline = time.monotonic() + 60
    while True:
        rep = await chk.verify(ep)
        if rep.ok or time.monotonic() > deadline:
            return rep
        await asyncio.sleep(0.5)
