"""``python -m e2e.chaos``: machine failures on a three-node local cluster (``make e2e-chaos``).

On a three-node local cluster with moco deployed, MOCO's anti-affinity example (a 3-instance
MySQLCluster whose Pods may not share a node) runs under continuous writes through its primary
Service, from the host, with the acknowledged-write checker; a sampler asks every reachable
instance (Pod IPs) for its read-only state many times a second. First ``--switchovers``
switchovers (5 by default) are asked with MOCO's demote annotation and measured as the client
sees them (the switchovers that place the primary for a run are measured too). For each injector of
:mod:`e2e.injectors` (``--runs`` times, 5 by default) a run:

1. waits until the cluster is Healthy with its three instances on three nodes, moves the primary
   off the leading controller's node for node-level faults (a switchover), and sends the host's
   Service traffic through a node other than the primary's (clients sit on healthy machines);
2. injects the fault on the primary and measures the write unavailability from the client's
   view: from the last write acknowledged before the fault to the first one acknowledged after
   it, through the primary Service (role label -> EndpointSlice -> kube-proxy included);
3. keeps the fault ``hold_s`` more seconds, undoes it (node back, partition healed, node
   resumed) and waits until the cluster is Healthy again, still one instance per node.

Then *node gone for good*: the primary's node is lost and stays lost; the cluster must stay
Available and say Degraded (with its reason); the documented recovery follows (the Node object,
the Pod and its claim deleted; the machine replaced by an empty one) and the instance must be
re-cloned until the cluster is Healthy on three nodes.

At the end every acknowledged write must be on every instance. The last line is one JSON object:
per injector ``{"p50_s", "max_s", "runs"}`` (and each run's figure), ``lost_acknowledged_writes``,
``two_writable_samples``, ``duration_s``, plus the time to Healthy of the new cluster, the node
gone for good, and memory (RSS of every process of the cluster: control plane, nodes, containers).
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from e2e import moco_cluster as mc
from e2e.injectors import INJECTORS, Injector, run_undo
from e2e.kubectl import Kubectl, KubectlError, default_kubeconfig
from e2e.local import faults, procs
from e2e.local import spec as spec_mod
from e2e.local.spec import ClusterSpec
from e2e.mysql_access import READONLY, WRITABLE, user_password
from e2e.timeline import startup
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.testing.checker import WriteChecker
from moco.testing.sampler import Sample, WritableSampler

NAME = "test"  # the example's
DEMOTE = "moco.cybozu.com/demote"
SELECTOR = f"app.kubernetes.io/name=mysql,app.kubernetes.io/instance={NAME}"
T0 = time.monotonic()
#: how long an instance stays errant before the run re-initializes it.
ERRANT_GRACE_S = 10.0
#: what node gone for good takes (lost, Degraded, recovered, re-cloned), for ``--until``.
NODE_GONE_S = 240.0


def log(msg: str) -> None:
    now = time.time()
    wall = time.strftime("%H:%M:%S", time.gmtime(now)) + f"{now % 1:.3f}"[1:]
    print(f"[chaos {wall} +{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def manifest(namespace: str) -> dict[str, Any]:
    """MOCO's anti-affinity example, without its 10-CPU/10-GiB requests (a 2-core machine)."""
    m = mc.example("anti-affinity.yaml", namespace)
    for c in m["spec"]["podTemplate"]["spec"]["containers"]:
        c.pop("resources", None)
    return m


def pods(k: Kubectl) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = k.get("pods", "-l", SELECTOR)["items"]
    return items


def placement(k: Kubectl) -> dict[str, str]:
    """mysqld Pod -> node."""
    return {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in pods(k)}


def one_per_node(k: Kubectl) -> bool:
    where = placement(k)
    return len(where) == 3 and len(set(where.values())) == 3 and all(where.values())


def leader(kube: Kubectl) -> str:
    """The holder of moco-controller's Lease ("" when none): ``<pod>_<id>``."""
    holder = ""
    for lease in kube.ns(mc.SYSTEM_NAMESPACE).get("leases")["items"]:
        holder = lease["spec"].get("holderIdentity") or holder
    return holder


def _ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def controller_nodes(kube: Kubectl) -> dict[str, str]:
    """moco-controller Pod -> node."""
    pods = kube.ns(mc.SYSTEM_NAMESPACE).get("pods")["items"]
    return {p["metadata"]["name"]: str(p["spec"].get("nodeName", "")) for p in pods}


def leader_node(kube: Kubectl) -> str:
    """The node of the moco-controller replica holding the Lease ("" when unknown)."""
    return controller_nodes(kube).get(leader(kube).split("_", 1)[0], "")


def cluster_rss_mib(spec: ClusterSpec) -> float:
    """RSS of every process of the cluster: recorded components and each node's shims and containers."""
    pids = {r.pid for r in procs.Registry(spec.state_file).load().values() if r.alive()}
    for n in spec.node_specs:
        pids |= faults.node_pids(spec, n)
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status").read().splitlines():  # noqa: SIM115
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def placed(inj: Injector, *, on_leader: bool) -> bool:
    """Whether the primary may take the fault where it is (pure): a fault of the mysqld alone
    strikes anywhere; a node-level fault strikes a primary off the leading controller's node,
    except operator loss, which needs the primary on it (the leader must die with it)."""
    return not inj.node_level or on_leader == inj.on_leader


@dataclass
class Run:
    injector: str
    old_node: str
    new_primary_node: str
    unavailable_s: float
    healthy_after_s: float
    reinitialized: int = 0
    #: operator loss: the Lease holder before the fault and when the new primary was seen.
    leader_before: str = ""
    leader_after: str = ""
    #: answers of the old primary through the primary Service after the undo (must stay 0).
    served_by_old: int = 0
    #: the old primary was reported errant (its unacknowledged writes) after the undo.
    errant: bool = False


@dataclass
class Chaos:
    spec: ClusterSpec
    kube: Kubectl
    k: Kubectl
    svc_ip: str = ""
    instances: list[tuple[str, Endpoint]] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    rss_peak_mib: float = 0.0
    reinitialized: list[int] = field(default_factory=list)
    #: agent logs of the instances re-initialized (their Pods are deleted).
    agent_logs: list[str] = field(default_factory=list)
    #: every index the status listed in errantReplicaList since the last undo.
    errant_seen: set[int] = field(default_factory=set)
    #: injectors of runs that failed (no write back, or not Healthy again, within the bounds).
    failed: list[str] = field(default_factory=list)
    #: the writer, once writes run (switchovers are measured against it).
    chk: WriteChecker | None = None
    #: the client's write unavailability of each switchover the runs asked for.
    switchovers: list[float] = field(default_factory=list)
    #: what the run is doing (for the sampler's rows): "<injector> <step>".
    phase: str = "start"
    _stop: threading.Event = field(default_factory=threading.Event)

    # --- background: instance list and memory ---------------------------------------------------
    def _refresh(self) -> None:
        pw = user_password(self.k, NAME, READONLY[1])
        while not self._stop.wait(1.0):
            try:
                self.instances = [
                    (p["metadata"]["name"], Endpoint(p["status"]["podIP"], 3306, READONLY[0], pw))
                    for p in pods(self.k)
                    if p["status"].get("podIP")
                ]
                self.rss_peak_mib = max(self.rss_peak_mib, cluster_rss_mib(self.spec))
            except (KubectlError, OSError, KeyError, ValueError):
                continue

    def primary_endpoint(self) -> Endpoint:
        """The primary Service's ClusterIP as the writable user."""
        return Endpoint(self.svc_ip, 3306, WRITABLE[0], user_password(self.k, NAME, WRITABLE[1]))

    # --- waits ----------------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 600) -> float:
        """Wait for Healthy with one instance per node. An instance reported errant (a former
        primary that wrote to its binary log what no replica received before it died or was cut
        off) is re-initialized as MOCO documents it: its claim and Pod deleted, then re-cloned."""
        t0 = time.monotonic()
        errant_since: dict[int, float] = {}

        def ready() -> bool:
            if mc.is_healthy(self.k, NAME) and one_per_node(self.k):
                return True
            now = time.monotonic()
            errants = mc.errant(self.k, NAME)
            self.errant_seen |= errants
            for i in errants:
                if now - errant_since.setdefault(i, now) > ERRANT_GRACE_S:
                    self.reinitialize(i)
                    errant_since[i] = now + 600  # once per wait
            return False

        mc.wait(self.k, NAME, "Healthy, one instance per node", ready, timeout)
        return time.monotonic() - t0

    def reinitialize(self, index: int) -> None:
        log(f"instance {index} is errant: re-initializing it (claim and Pod deleted)")
        self.reinitialized.append(index)
        # its agent's log goes with the Pod: keep it (the isolation fence of a cut-off primary)
        self.agent_logs.append(self.k("logs", f"moco-{NAME}-{index}", "-c", "agent", timeout=30, check=False))
        mc.reinitialize(self.k, NAME, index)

    def wait_primary_change(self, old: int, timeout: float) -> float:
        """Monotonic time at which another primary was seen (or the timeout ran out: a restart
        in place keeps the primary)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if mc.primary_index(self.k, NAME) != old:
                    return time.monotonic()
            except (KubectlError, KeyError, ValueError):
                pass
            time.sleep(0.2)
        log(f"the primary stayed instance {old} for {timeout:.0f}s")
        return time.monotonic()

    def route_evidence(self) -> str:
        """Where the primary Service leads right now: its EndpointSlices' addresses and the TCP
        conntrack entries toward its ClusterIP on the node the host's Service traffic goes
        through (a stale entry keeps an old translation for a reused source port)."""
        out = []
        try:
            slices = self.k.get("endpointslices", "-l", f"kubernetes.io/service-name=moco-{NAME}-primary")
            for sl in slices.get("items", []):
                addrs = [a for e in sl.get("endpoints", []) for a in e.get("addresses", [])]
                out.append(f"slice {sl['metadata']['name']}: {addrs}")
        except (KubectlError, KeyError, ValueError) as e:
            out.append(f"slices: {e}")
        via = faults.services_node(self.spec)
        if via is not None and self.svc_ip:
            out.append(f"conntrack on {via}:\n{faults.service_conntrack(self.spec, via, self.svc_ip)}")
        return "\n".join(out)

    def primary_pod(self) -> dict[str, Any]:
        idx = mc.primary_index(self.k, NAME)
        pod: dict[str, Any] = self.k.get("pod", f"moco-{NAME}-{idx}")
        return pod

    def prepare(self, inj: Injector) -> dict[str, Any]:
        """Healthy, one per node, the primary off the leader's node (node faults), clients elsewhere."""
        self.wait_ready()
        pod = self.primary_pod()
        for _ in range(8):  # a switchover picks its target itself: a few may be needed
            on_leader = pod["spec"]["nodeName"] == leader_node(self.kube)
            if placed(inj, on_leader=on_leader):
                break
            if inj.on_leader and self.hand_over_lead(pod["spec"]["nodeName"]):
                pod = self.primary_pod()
                continue
            where = "shares" if on_leader else "does not share"
            self.switchover(f"{where} {pod['spec']['nodeName']} with the leading controller")
            pod = self.primary_pod()
        if not placed(inj, on_leader=pod["spec"]["nodeName"] == leader_node(self.kube)):
            # a switchover picks its own target (the lowest in-sync index): it may cycle between
            # two instances and never reach the node wanted; the fault would not be the one named
            raise AssertionError(
                f"{inj.name}: the primary could not be placed (on the leader's node: {inj.on_leader})"
            )
        if inj.on_leader:
            ctl = controller_nodes(self.kube)
            if len(set(ctl.values())) < 2:
                raise AssertionError(f"{inj.name}: every moco-controller replica runs on one node: {ctl}")
        via = next(n.name for n in self.spec.node_specs if n.name != pod["spec"]["nodeName"])
        if faults.services_node(self.spec) != via:
            faults.route_services_via(self.spec, via)
        return pod

    def hand_over_lead(self, node: str) -> bool:
        """Make the standby moco-controller on ``node`` the leader, if one runs there: the
        leader's Pod is deleted (it releases the Lease as it stops) and the standby takes the
        Lease. A switchover picks the lowest in-sync index, so it cycles between two instances
        and never reaches the third: when the leader runs beside that one, the lead moves to
        the primary instead. False when no standby runs on ``node``."""
        held = leader(self.kube)
        ctl = controller_nodes(self.kube)
        standby = [p for p, n in ctl.items() if n == node and not held.startswith(f"{p}_")]
        if not held or not standby:
            return False
        old = held.split("_", 1)[0]
        log(f"placement: the lead moves from {old} ({ctl.get(old)}) to the standby {standby[0]} on {node}")
        self.kube.ns(mc.SYSTEM_NAMESPACE)("delete", "pod", old, "--wait=false")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            now = leader(self.kube)
            pods = self.kube.ns(mc.SYSTEM_NAMESPACE).get("pods")["items"]
            ready = [p for p in pods if not p["metadata"].get("deletionTimestamp") and _ready(p)]
            if now.startswith(f"{standby[0]}_") and len(ready) >= 2:
                return True
            time.sleep(0.5)
        raise AssertionError(f"placement: the standby {standby[0]} did not take the lead within 120 s")

    def switchover(self, why: str) -> None:
        """Demote the primary and wait until another one is Healthy; once writes run, the
        client's write unavailability is measured as for a fault (``switchovers``)."""
        old = mc.primary_index(self.k, NAME)
        log(f"switchover: primary {old} {why}")
        self.phase = f"switchover from {old}"
        t_ask = time.monotonic()
        self.k("annotate", "pod", f"moco-{NAME}-{old}", f"{DEMOTE}=true", "--overwrite")
        mc.wait(
            self.k,
            NAME,
            "switchover",
            lambda: mc.primary_index(self.k, NAME) != old and mc.is_healthy(self.k, NAME),
            120,
        )
        moved = time.monotonic()
        if self.chk is not None:  # the switchover as the client saw it, once writes are back
            while self.chk.acked_after(moved) < 20 and time.monotonic() - moved < 30:
                time.sleep(0.05)
            gap = longest_gap([a.acked for a in list(self.chk.acks)], t_ask, moved)
            self.switchovers.append(gap)
            log(f"switchover: longest time without an acknowledged write {gap:.2f}s")

    def switchovers_round(self, n: int) -> None:
        """``n`` switchovers in a row, each from a Healthy cluster under writes."""
        for i in range(n):
            self.wait_ready()
            self.switchover(f"asked ({i + 1}/{n})")

    # --- one run --------------------------------------------------------------------------------
    async def run_once(self, inj: Injector, chk: WriteChecker) -> Run:
        self.phase = f"{inj.name} prepare"
        pod = await asyncio.to_thread(self.prepare, inj)
        old_idx = int(pod["metadata"]["name"].rsplit("-", 1)[1])
        node = pod["spec"]["nodeName"]
        t_ready = time.monotonic()
        await _wait_acks(chk, 30, t_ready, 120, "writes before the fault")
        leader_before = await asyncio.to_thread(leader, self.kube) if inj.on_leader else ""
        service_ep = await asyncio.to_thread(self.primary_endpoint)
        old_uuid = await _server_uuid(service_ep)
        t_inj = time.monotonic()
        self.phase = f"{inj.name} injected"
        undo = await asyncio.to_thread(inj.inject, self.spec, self.k, pod)
        # The fault is whole once inject returns (a node's processes stopped one by one, a
        # signal sent through kubectl exec): a write sent before then may still be acknowledged
        # by the old primary and counts before the fault; one sent after it faces the fault.
        t_eff = time.monotonic()
        log(f"{inj.name}: injected on moco-{NAME}-{old_idx} ({node}) in {t_eff - t_inj:.2f}s")
        try:
            await _wait_sent_after(chk, t_eff, 180, f"{inj.name}: a write sent after the fault acknowledged")
            moved = await asyncio.to_thread(self.wait_primary_change, old_idx, 120)
            leader_after = await asyncio.to_thread(leader, self.kube) if inj.on_leader else ""
            if inj.on_leader:
                log(f"{inj.name}: Lease held by {leader_before} before the fault, {leader_after} after")
                if leader_after == leader_before:
                    raise AssertionError(
                        f"{inj.name}: the failover was not done by a new leader ({leader_after})"
                    )
            await _wait_acks(chk, 20, moved, 120, f"{inj.name}: writes on the primary after the fault")
            unavailable = longest_gap([a.acked for a in chk.acks], t_inj, moved)
            log(f"{inj.name}: longest time without an acknowledged write {unavailable:.2f}s")
            await asyncio.sleep(inj.hold_s)
        finally:
            self.phase = f"{inj.name} undone"
            await asyncio.to_thread(run_undo, undo)
        t_undo = time.monotonic()
        before = len(self.reinitialized)
        self.errant_seen = set()  # this run's reports only
        # From the moment the old primary is back until Healthy: who answers through the
        # primary Service (never the old primary, whatever it still believes). Only after a
        # failover: a primary restarted in place is rightly the one that answers.
        stop = asyncio.Event()
        failed_over = await asyncio.to_thread(mc.primary_index, self.k, NAME) != old_idx
        served = asyncio.create_task(
            _served_by(service_ep, old_uuid if failed_over else "", stop, self.route_evidence)
        )
        try:
            await asyncio.to_thread(self.wait_ready)
        finally:
            stop.set()
            asked, by_old = await served
        healthy = time.monotonic() - t_inj
        errant = old_idx in self.errant_seen
        log(
            f"{inj.name}: primary Service asked {asked} times after the undo, answered by the old "
            f"primary {by_old} times; old primary reported errant: {errant}"
        )
        new_pod = await asyncio.to_thread(self.primary_pod)
        log(
            f"{inj.name}: undone; Healthy {time.monotonic() - t_undo:.1f}s later, primary "
            f"{new_pod['metadata']['name']} on {new_pod['spec']['nodeName']}"
        )
        return Run(
            inj.name,
            node,
            new_pod["spec"]["nodeName"],
            round(unavailable, 3),
            round(healthy, 1),
            len(self.reinitialized) - before,
            leader_before,
            leader_after,
            by_old,
            errant,
        )

    # --- node gone for good ---------------------------------------------------------------------
    async def node_gone(self, chk: WriteChecker) -> dict[str, Any]:
        pod = await asyncio.to_thread(self.prepare, INJECTORS["node_loss"])
        name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
        t0 = time.monotonic()
        await asyncio.to_thread(faults.lose_node, self.spec, node)
        log(f"node gone: {node} (with {name}) lost for good")
        await _wait_acks(chk, 20, t0, 180, "writes with a node gone")

        def degraded() -> dict[str, Any] | None:
            # MOCO's conditions: Available stays True, Healthy turns False with the state
            # (Degraded) as its reason.
            st = mc.status(self.k, NAME)
            conds = {c["type"]: c for c in st.get("conditions") or []}
            healthy = conds.get("Healthy", {})
            if (
                conds.get("Available", {}).get("status") == "True"
                and healthy.get("status") == "False"
                and healthy.get("reason") == "Degraded"
            ):
                return {**healthy, "syncedReplicas": st.get("syncedReplicas")}
            return None

        cond = await asyncio.to_thread(mc.wait, self.k, NAME, "Available and Degraded", degraded, 180)
        t_deg = time.monotonic() - t0
        log(f"node gone: Available, Degraded after {t_deg:.1f}s: {cond}")
        # The documented recovery: the Node object goes, then the instance's claim and Pod; the
        # machine is replaced by an empty one.
        t_rec = time.monotonic()
        await asyncio.to_thread(self._recover, name, node)
        await asyncio.to_thread(self.wait_ready, 900)
        healthy = time.monotonic() - t_rec
        log(f"node gone: recovered, Healthy on three nodes {healthy:.1f}s after the recovery began")
        return {
            "node": node,
            "available_degraded_after_s": round(t_deg, 1),
            "healthy_reason": cond.get("reason"),
            "healthy_message": cond.get("message"),
            "synced_replicas": cond.get("syncedReplicas"),
            "healthy_after_recovery_s": round(healthy, 1),
        }

    def _recover(self, pod: str, node: str) -> None:
        index = pod.rsplit("-", 1)[1]
        self.kube("delete", "node", node, "--wait=false")
        self.k("delete", "pvc", f"mysql-data-moco-{NAME}-{index}", "--wait=false")
        self.k("delete", "pod", pod, "--grace-period=0", "--force", "--wait=false", check=False)
        faults.restore_node(self.spec, node, wipe_volumes=True)


async def _wait_acks(chk: WriteChecker, n: int, after: float, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while chk.acked_after(after) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {chk.acked_after(after)} of {n} within {timeout:.0f}s")
        await asyncio.sleep(0.02)


async def _server_uuid(ep: Endpoint) -> str:
    """``@@server_uuid`` of the server ``ep`` leads to."""
    async with await connect(ep, timeout=5, query_timeout=5) as c:
        row = await c.query_one("SELECT @@server_uuid AS u")
    return str(row["u"]) if row else ""


async def _served_by(
    ep: Endpoint, uuid: str, stop: asyncio.Event, evidence: Callable[[], str] | None = None
) -> tuple[int, int]:
    """Ask ``@@server_uuid`` through ``ep`` on a new connection every 50 ms until ``stop``:
    (answers, answers by ``uuid``; none counted when ``uuid`` is empty). When the old primary
    answers, ``evidence()`` (what led there: the primary Service's EndpointSlice, the Service
    node's conntrack entries) is logged."""
    asked = by = 0
    while not stop.is_set():
        try:
            async with await connect(ep, timeout=0.5, query_timeout=0.5) as c:
                row = await c.query_one("SELECT @@server_uuid AS u")
            asked += 1
            if uuid and row and str(row["u"]) == uuid:
                by += 1
                log(f"the primary Service was answered by the old primary {uuid}")
                if evidence is not None:
                    log(await asyncio.to_thread(evidence))
        except MySQLError:
            pass
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    return asked, by


def longest_gap(acked: list[float], start: float, end: float) -> float:
    """The client's write unavailability around a fault (pure): the longest time between two
    consecutive acknowledged writes, from the last one before ``start`` to the first ones after
    ``end`` (a graceful stop may still acknowledge writes for a moment after it is asked for)."""
    first = max((i for i, t in enumerate(acked) if t <= start), default=0)
    gaps = [acked[i + 1] - acked[i] for i in range(first, len(acked) - 1) if acked[i] <= end]
    return round(max(gaps, default=0.0), 3)


async def _wait_sent_after(chk: WriteChecker, t: float, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not any(a.sent >= t for a in reversed(chk.acks[-1000:])):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: none within {timeout:.0f}s")
        await asyncio.sleep(0.02)


def schedule(injectors: list[str], counts: dict[str, int]) -> list[tuple[int, str]]:
    """(round, injector) in rounds: each injector once per round while it has runs left (pure)."""
    return [(r, n) for r in range(max(counts.values(), default=0)) for n in injectors if r < counts[n]]


def runs_of(injectors: list[str], runs: int, overrides: list[str]) -> dict[str, int]:
    """Runs per injector: ``runs`` each, ``NAME=N`` overrides (pure; bad input names the flag)."""
    counts = dict.fromkeys(injectors, runs)
    for o in overrides:
        name, sep, n = o.partition("=")
        if not sep or name not in INJECTORS or not n.isdigit():
            raise SystemExit(f"--runs-of {o!r}: want INJECTOR=N with INJECTOR one of {sorted(INJECTORS)}")
        if name in counts:
            counts[name] = int(n)
    return counts


def _figures(runs: list[Run]) -> dict[str, Any]:
    xs = [r.unavailable_s for r in runs]
    return {
        "p50_s": round(statistics.median(xs), 2) if xs else None,
        "max_s": round(max(xs), 2) if xs else None,
        "runs": len(xs),
        "each_s": xs,
        "healthy_after_s": [r.healthy_after_s for r in runs],
        "errant_reinitialized": sum(r.reinitialized for r in runs),
        "errant_reported": sum(r.errant for r in runs),
        "served_by_old_primary": sum(r.served_by_old for r in runs),
        **(
            {"leaders": [[r.leader_before, r.leader_after] for r in runs]}
            if any(r.leader_before for r in runs)
            else {}
        ),
    }


async def verify(c: Chaos, chk: WriteChecker) -> tuple[int, dict[str, int]]:
    """Acknowledged writes missing on the primary (through the Service), and on each instance."""
    missing: set[int] = set((await chk.verify(c.primary_endpoint(), timeout=60)).missing)
    per: dict[str, int] = {}
    for name, ep in list(c.instances):
        for _ in range(120):
            try:
                rep = await chk.verify(ep, timeout=60)
            except MySQLError:
                await asyncio.sleep(0.5)
                continue
            if rep.ok or not rep.missing:
                break
            await asyncio.sleep(0.5)
        per[name] = len(rep.missing)
    return len(missing), per


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.monotonic()
    spec = spec_mod.current()
    if spec.nodes != 3:
        raise SystemExit(f"the chaos tier needs a three-node local cluster (this one has {spec.nodes})")
    kube = Kubectl(default_kubeconfig())
    mc.require_moco(kube)
    result: dict[str, Any] = {"suite": "e2e-chaos"}
    with mc.scenario_namespace(kube, "chaos") as k:
        t0 = time.monotonic()
        mc.apply(k, manifest(str(k.namespace)))
        c = Chaos(spec, kube, k)
        result["time_to_healthy_s"] = round(c.wait_ready(900), 1)
        result["startup_timeline"] = startup(k, NAME)
        result["placement"] = placement(k)
        result["rss_mib_healthy"] = cluster_rss_mib(spec)
        log(f"Healthy in {time.monotonic() - t0:.1f}s on {sorted(set(result['placement'].values()))}")
        c.svc_ip = k.get("service", f"moco-{NAME}-primary")["spec"]["clusterIP"]
        primary_ep = c.primary_endpoint()
        refresher = threading.Thread(target=c._refresh, name="instances", daemon=True)
        refresher.start()
        faults.route_services_via(spec, spec.node_specs[0].name)
        chk = WriteChecker(primary=lambda: primary_ep, connect_timeout=1.0, write_timeout=2.0)
        samples: list[list[Any]] = []

        def on_sample(sample: Sample, counted: bool) -> None:
            row = [
                round(sample.at - T0, 2),
                list(sample.writable),
                round(sample.spread, 3),
                counted,
                list(sample.can_commit),
                c.phase,
            ]
            samples.append(row)
            log(f"two writable instances seen: {row}")

        sampler = WritableSampler(instances=lambda: c.instances, on_sample=on_sample)
        await chk.setup(timeout=120)
        chk.start()
        c.chk = chk
        sampler.start()
        try:
            if args.switchovers:
                await asyncio.to_thread(c.switchovers_round, args.switchovers)
            counts = runs_of(args.injectors, args.runs, args.runs_of)
            took: dict[str, float] = {}
            # Rounds: every injector once per round, so that a run cut short by --until still
            # has every injector measured (each run takes its own last duration as estimate).
            for r, name in schedule(args.injectors, counts):
                if args.until and time.time() + took.get(name, 120.0) > args.until:
                    log(f"{name}: run {r + 1} not started: --until would be passed")
                    result.setdefault("cut_short_by_until", []).append(f"{name}#{r + 1}")
                    continue
                log(f"{name}: run {r + 1}/{counts[name]}")
                t_run = time.monotonic()
                try:
                    c.runs.append(await c.run_once(INJECTORS[name], chk))
                except AssertionError as e:  # the run's figure is missing; the next run goes on
                    log(f"{name}: run {r + 1} failed: {str(e)[:2000]}")
                    c.failed.append(name)
                took[name] = time.monotonic() - t_run
            if args.node_gone and args.until and time.time() + NODE_GONE_S > args.until:
                log("node gone: not started: --until would be passed")
                result["node_gone"] = {"skipped": "--until"}
            elif args.node_gone:
                try:
                    result["node_gone"] = await c.node_gone(chk)
                except AssertionError as e:
                    log(f"node gone: failed: {str(e)[:2000]}")
                    result["node_gone"] = {"failed": str(e)[:300]}
        finally:
            await chk.stop()
            await sampler.stop()
            faults.route_services_via(spec, spec.node_specs[0].name)
        lost, per = await verify(c, chk)
        if args.save_logs:
            save_logs(kube, k, args.save_logs, c.agent_logs)
        c._stop.set()
        for name in args.injectors:
            result[name] = _figures([r for r in c.runs if r.injector == name])
            result[name]["failed_runs"] = c.failed.count(name)
        sw = c.switchovers
        result["switchover"] = {
            "p50_s": round(statistics.median(sw), 2) if sw else None,
            "max_s": round(max(sw), 2) if sw else None,
            "runs": len(sw),
            "each_s": [round(x, 3) for x in sw],
        }
        result.update(
            lost_acknowledged_writes=lost,
            missing_per_instance=per,
            acknowledged_writes=len(chk.acks),
            two_writable_samples=len(sampler.two_writable),
            two_writable_wide_samples=len(sampler.two_writable_wide),
            two_committing_samples=len(sampler.two_committing),
            two_writable_seen=samples[:20],
            sampler_rounds=sampler.rounds,
            one_instance_per_node=one_per_node(k),
            nodes=spec.nodes,
            rss_mib_peak=c.rss_peak_mib,
        )
    result["duration_s"] = round(time.monotonic() - t_start, 1)
    return result


def save_logs(kube: Kubectl, k: Kubectl, path: str, earlier: list[str]) -> None:
    """The controllers' logs (the failovers' own timeline) and the agents' (their isolation
    fence; ``earlier``: those of Pods deleted meanwhile), for a reader of the figures."""
    ctl = kube.ns(mc.SYSTEM_NAMESPACE)
    with open(path, "w") as f:
        f.writelines(earlier)
        for p in pods(k):
            for prev in ("--previous", None):
                args = ["logs", *([prev] if prev else []), p["metadata"]["name"], "-c", "agent"]
                f.write(k(*args, timeout=60, check=False))
        for p in ctl.get("pods")["items"]:
            # a replica whose node was lost restarted: its earlier container led the first runs
            f.write(ctl("logs", "--previous", p["metadata"]["name"], timeout=60, check=False))
            f.write(ctl("logs", p["metadata"]["name"], timeout=60, check=False))


def next_utc_clock(v: str, now: float | None = None) -> float:
    """``HH:MM`` (UTC) as epoch seconds: the next such moment (tomorrow's when today's has
    passed: ``--until 00:10`` given at 23:20 means in 50 minutes, not 23 hours ago)."""
    try:
        h, m = (int(x) for x in v.split(":"))
        if not (0 <= h < 24 and 0 <= m < 60):
            raise ValueError(v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--until {v!r}: want HH:MM (UTC)") from e
    at = time.time() if now is None else now
    day = time.gmtime(at)
    t = float(calendar.timegm((day.tm_year, day.tm_mon, day.tm_mday, h, m, 0)))
    return t if t > at else t + 86400.0


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m e2e.chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument(
        "--runs-of",
        action="append",
        default=[],
        metavar="INJECTOR=N",
        help="runs of one injector (operator_loss=3: each run waits out a Lease and re-clones)",
    )
    p.add_argument("--injectors", nargs="*", default=list(INJECTORS), choices=list(INJECTORS))
    p.add_argument(
        "--switchovers",
        type=int,
        default=5,
        metavar="N",
        help="switchovers asked (demote annotation) and measured before the faults (0: none)",
    )
    p.add_argument("--no-node-gone", dest="node_gone", action="store_false")
    p.add_argument(
        "--until",
        type=next_utc_clock,
        default=None,
        metavar="HH:MM",
        help="UTC time by which the runs must be over: a run that would end later is not started",
    )
    p.add_argument("--save-logs", metavar="FILE", help="write the controllers' logs there at the end")
    args = p.parse_args()
    result = asyncio.run(main_async(args))
    print(json.dumps(result), flush=True)
    ok = (
        result["lost_acknowledged_writes"] == 0
        and result["two_writable_samples"] == 0
        and result["one_instance_per_node"]
        and not any(
            isinstance(v, dict)
            and (v.get("failed_runs") or v.get("failed") or v.get("served_by_old_primary"))
            for v in result.values()
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
