"""``make soak``: seeded random faults against the real clustering loop on real mysqld.

A cluster of 3 real mysqld 9.7 instances is run by the real clustering loop over the in-memory
Kubernetes side, wrapped by :class:`moco.testing.lagging.LaggingKube` (the loop's cache of the
cluster and Pods may lag). :class:`moco.testing.checker.WriteChecker` writes sequence-numbered
rows through the current primary; :class:`moco.testing.sampler.WritableSampler` reads every
server's read_only many times a second. Meanwhile *episodes* of faults
(:mod:`moco.testing.faults`) follow one another:

- kill-primary, kill-replica: SIGKILL, then mysqld started again after a while (kubelet);
- pause-primary, pause-replica: SIGSTOP, SIGCONT after up to 8 s, now and then after 10-25 s
  (the Pod may or may not turn not ready);
- switchover: the demote annotation on the primary's Pod;
- switchover-long-trx: a transaction that wrote then sleeps, held on the primary, then demote;
- switchover-read-lock: FLUSH TABLES WITH READ LOCK held on the primary, then demote;
- wipe-replica: a replica's data and Pod lost: it comes back empty and must be cloned;
- loop-crash: the loop ends at once or at its n-th write; a new loop starts after a while;

and on top of an episode, at random, a cache lag of up to ``--max-lag`` seconds and a crash of
the loop during the episode. Before each episode the soak waits until the loop finds the
cluster Healthy (one failure at a time, which a 3-instance cluster must survive). An instance
that comes back with errant transactions (the unacknowledged tail of a killed primary) is wiped
and re-cloned, as a human would.

The episodes and every parameter are drawn from ``random.Random(seed)`` before they run, so the
same ``--seed`` replays the same faults (timing within the machine still varies). Every fault,
loop Event and primary change is printed with its time since the start.

Checks: every acknowledged write (and every committed long transaction) is on the final primary
and on every replica; at each primary change, every write acknowledged before it is on the new
primary once it takes writes; no sampling round saw two servers that could acknowledge a commit
(``two_committing_samples``; see :mod:`moco.testing.sampler` for "same instant"), and two
writable servers (``read_only=0``) were seen together only briefly; the longest time the
instance the status names primary was not seen writable (``longest_no_primary_s``) and the
longest time between two acknowledged writes (``longest_no_ack_s``).
It stops by itself after ``--faults`` faults or ``--max-duration`` seconds (whichever first),
stops every process it started and only talks to loopback.

Last line: one JSON object (``faults``, ``failovers``, ``switchovers``,
``lost_acknowledged_writes``, ``two_writable_samples``, ``longest_no_primary_s``, ``seed``,
and more). Exit status 0 when the targets hold: nothing lost, no round with two servers able
to acknowledge a commit, no run of two-writable rounds longer than
``TARGET_TWO_WRITABLE_RUN_S``, at most 30 s without a writable primary, the cluster Healthy
again after every episode.

Why two writable servers are bounded, not forbidden: a primary frozen by SIGSTOP holds
``read_only=0`` in memory, and when it is resumed after a failover it is writable until the loop
reaches it; no operator can change a frozen process. What must never happen is that it
acknowledges a commit: its semi-sync source waits for replicas that left it (the sampler checks
that from both sides), and the loop fences it (kills its clients, releases their hung commits,
``super_read_only``) within about ``ProcessConfig.unreachable_recheck``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from moco.clustering.interfaces import (
    EV_FAILOVER_SUCCEEDED,
    EV_SWITCHOVER_SUCCEEDED,
    Credentials,
)
from moco.clustering.memory import MemoryKube, SQLCloneAgent, bootstrap_users, make_pods
from moco.clustering.process import ClusterProcess
from moco.clustering.types import ClusterSpecView, ClusterState, Operation, PodInfo
from moco.log import setup
from moco.mysql.conn import Endpoint, connect
from moco.mysql.errors import MySQLError
from moco.testing.checker import DATABASE, TABLE, WriteChecker
from moco.testing.faults import (
    LONG_TABLE,
    CacheLag,
    Demote,
    Fault,
    KillMysqld,
    LongTransaction,
    LoopCrash,
    PauseMysqld,
    ReadLock,
    WipeMysqld,
)
from moco.testing.lagging import LaggingKube
from moco.testing.loopconfig import LOOPBACK
from moco.testing.mysqld import ADMIN_PASSWORD, Mysqld, MysqldGround
from moco.testing.sampler import Sample, WritableSampler

CREDS = Credentials(admin=ADMIN_PASSWORD, replication="soak-repl", clone_donor="soak-donor")
#: The application user: writes the checker's rows, takes FLUSH TABLES WITH READ LOCK.
CLIENT_USER = "soak"
CLIENT_PASSWORD = "soak-pw"
CLIENT_GRANTS = (
    (CLIENT_USER, CLIENT_PASSWORD, "ALL ON app.*"),
    (CLIENT_USER, CLIENT_PASSWORD, "RELOAD ON *.*"),
)
CLUSTER = "soak"
#: Loop bounds: those of the mysql tier (short ticker and waits, loopback-fast).
CFG = LOOPBACK
#: Targets (``make soak`` exits 1 when one is missed).
TARGET_LONGEST_NO_PRIMARY_S = 30.0
#: The longest run of rounds with two writable servers (a resumed frozen former primary, until
#: the loop fences it; it can never acknowledge a commit meanwhile, see the module docstring).
TARGET_TWO_WRITABLE_RUN_S = 2.0

Role = Literal["primary", "replica", "none"]

#: Episode kinds and their weights.
KINDS: dict[str, float] = {
    "kill-primary": 3.0,
    "kill-replica": 2.0,
    "pause-primary": 2.0,
    "pause-replica": 1.5,
    "switchover": 2.0,
    "switchover-long-trx": 1.5,
    "switchover-read-lock": 1.5,
    "wipe-replica": 1.0,
    "loop-crash": 1.0,
}


@dataclass(frozen=True)
class SoakConfig:
    """One soak run; defaults are ``make soak``'s."""

    seed: int
    #: no new episode once this many faults were injected.
    faults: int = 200
    #: no new episode after this many seconds.
    max_duration: float = 1800.0
    #: largest lag of the loop's cache during a cache-lag fault (seconds).
    max_lag: float = 3.0
    #: the cluster view lags too (False: only Pods; the controller reads the cluster uncached).
    lag_cluster: bool = True
    #: how long the cluster may take to be Healthy again between episodes.
    healthy_timeout: float = 120.0
    #: print the timeline as it happens.
    verbose: bool = True


@dataclass
class Step:
    """One fault of an episode: injected ``at`` s after the episode starts, undone at ``until``."""

    fault: Fault
    role: Role
    at: float
    until: float


@dataclass
class Episode:
    """A few faults that run together."""

    number: int
    kind: str
    steps: list[Step]
    #: which replica, when a step is about one (0: the lower ordinal).
    replica_pick: int
    #: pause before the episode starts (after the cluster is Healthy).
    gap_before: float
    started: float = 0.0
    ended: float = 0.0


def draw_episode(rng: random.Random, number: int, cfg: SoakConfig, long_row: int) -> Episode:
    """The next episode of a seeded plan (depends only on ``rng``'s state and the arguments)."""
    kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    pick = rng.randrange(2)
    hold = round(rng.uniform(0.5, 5.0), 2)
    # now and then a server stays frozen long after the failover (the new primary must open
    # without it)
    frozen = round(rng.uniform(10.0, 25.0), 2) if rng.random() < 0.2 else hold * 1.6
    steps: list[Step] = []
    if kind == "kill-primary":
        steps.append(Step(KillMysqld(), "primary", 0.1, 0.1 + hold))
    elif kind == "kill-replica":
        steps.append(Step(KillMysqld(), "replica", 0.1, 0.1 + hold))
    elif kind == "pause-primary":
        steps.append(Step(PauseMysqld.draw(rng), "primary", 0.1, 0.1 + frozen))
    elif kind == "pause-replica":
        steps.append(Step(PauseMysqld.draw(rng), "replica", 0.1, 0.1 + hold))
    elif kind == "switchover":
        steps.append(Step(Demote(), "primary", 0.1, 0.1))
    elif kind == "switchover-long-trx":
        trx = LongTransaction.draw(rng, long_row)
        steps.append(Step(trx, "primary", 0.1, 0.1 + trx.seconds + 0.5))
        steps.append(Step(Demote(), "primary", round(rng.uniform(0.3, 1.0), 2), 0.0))
    elif kind == "switchover-read-lock":
        lock = ReadLock.draw(rng)
        steps.append(Step(lock, "primary", 0.1, 0.1 + lock.seconds + 0.5))
        steps.append(Step(Demote(), "primary", round(rng.uniform(0.3, 1.0), 2), 0.0))
    elif kind == "wipe-replica":
        steps.append(Step(WipeMysqld(), "replica", 0.1, 0.1 + min(hold, 3.0)))
    else:
        steps.append(Step(LoopCrash.draw(rng), "none", 0.1, 0.1 + round(rng.uniform(0.2, 3.0), 2)))
    for s in steps:
        s.until = max(s.until, s.at)
    end = max(s.until for s in steps)
    if rng.random() < 0.35:
        lag = CacheLag.draw(rng, cfg.max_lag)
        steps.insert(0, Step(lag, "none", 0.0, end + round(rng.uniform(1.0, 4.0), 2)))
    if kind != "loop-crash" and rng.random() < 0.3:
        crash = LoopCrash.draw(rng)
        # a crash at a write is armed before the operation starts; one at once falls anywhere
        at = round(rng.uniform(0.0, 0.5) if crash.at_write else rng.uniform(0.1, 3.0), 2)
        steps.append(Step(crash, "none", at, at + round(rng.uniform(0.2, 2.0), 2)))
    return Episode(number, kind, steps, pick, round(rng.uniform(0.0, 1.5), 2))


@dataclass
class Lost:
    """An acknowledged write found missing."""

    seq: int
    server_uuid: str
    acked_at: float
    where: str


class Soak:
    """The cluster, the loop, the checkers, the faults; implements :class:`moco.testing.faults.World`."""

    lag: LaggingKube
    kube: MemoryKube

    def __init__(self, ground: MysqldGround, cfg: SoakConfig) -> None:
        self.ground = ground
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.ms: list[Mysqld] = []
        self.agent = SQLCloneAgent(CREDS)
        self.proc: ClusterProcess | None = None
        self.loops_started = 0
        self.t0 = time.monotonic()
        self.timeline: list[dict[str, Any]] = []
        self.long_acks: list[tuple[int, int, float]] = []
        self.lost: dict[int, Lost] = {}
        self.lost_long: list[int] = []
        self.primary_changes: list[tuple[float, int, int]] = []
        self.episodes: list[Episode] = []
        self.fault_counts: Counter[str] = Counter()
        self.recloned_errant = 0
        self.restarted_dead = 0
        self.stuck: str = ""
        self.uuids: dict[str, str] = {}
        self.chk: WriteChecker | None = None
        self.sampler: WritableSampler | None = None
        self._watch: asyncio.Task[None] | None = None
        self._split_key: tuple[tuple[str, ...], bool] | None = None
        self._split_last = 0.0
        self._split_run = 0
        self._wiped: set[int] = set()
        self._deleted: dict[int, PodInfo] = {}

    # --- the World of moco.testing.faults -------------------------------------------------------------
    def instance(self, index: int) -> Mysqld:
        return self.ms[index]

    def set_pod(self, index: int, **changes: object) -> None:
        self.kube.set_pod(index, **changes)

    def wake(self, origin: str) -> None:
        if self.proc is not None:
            self.proc.wake(origin)

    def delete_pod(self, index: int) -> None:
        self._deleted[index] = self.kube.remove_pod(index)

    def recreate_pod(self, index: int) -> None:
        pod = self._deleted.pop(index, None) or self.kube.pod(index)
        self.kube.add_pod(replace(pod, ready=True, deleting=False, demote=False, role=None))

    def client(self, index: int) -> Endpoint:
        return self.ms[index].endpoint(CLIENT_USER, CLIENT_PASSWORD)

    async def reinitialize(self, index: int) -> None:
        await asyncio.to_thread(self.ground.wipe, self.ms[index])

    async def prepare(self, index: int) -> None:
        m = self.ms[index]
        await bootstrap_users(m.admin_endpoint(), CREDS, CLIENT_GRANTS)
        await self._learn_uuid(index)

    async def stop_loop(self) -> None:
        if self.proc is not None:
            await self.proc.stop()

    def start_loop(self) -> None:
        self.proc = ClusterProcess("default", CLUSTER, self.lag, self.agent, CFG)
        self.proc.start()
        self.loops_started += 1

    def acknowledge_long(self, row_id: int, index: int) -> None:
        self.long_acks.append((row_id, index, time.monotonic()))

    # --- output -----------------------------------------------------------------------------------------
    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def rel(self, t: float) -> float:
        return round(t - self.t0, 3)

    def say(self, what: str, **fields: Any) -> None:
        entry = {"t": self.now(), "what": what, **fields}
        self.timeline.append(entry)
        if self.cfg.verbose:
            extra = " ".join(f"{k}={v}" for k, v in fields.items() if v not in ("", None))
            print(f"[{entry['t']:9.3f}] {what} {extra}", flush=True)

    def name(self, index: int | None) -> str:
        return "-" if index is None else f"{index}({self.ms[index].name})"

    # --- set-up -----------------------------------------------------------------------------------------
    async def _learn_uuid(self, index: int) -> None:
        async with await connect(self.ms[index].admin_endpoint(), timeout=5.0) as c:
            row = await c.query_one("SELECT @@server_uuid AS u")
        if row is not None:
            self.uuids[str(row["u"])] = self.name(index)

    async def start(self) -> None:
        async def one(i: int) -> Mysqld:
            m = self.ground.new_instance(extra_args=[f"--server-id={i + 1}"])
            await self.ground.ready(m, 60)
            await bootstrap_users(m.admin_endpoint(), CREDS, CLIENT_GRANTS)
            return m

        self.ms = list(await asyncio.gather(*(one(i) for i in range(3))))
        for i in range(3):
            await self._learn_uuid(i)
        cluster = ClusterSpecView(name=CLUSTER, namespace="default", replicas=3, server_id_base=1)
        self.kube = MemoryKube(cluster, make_pods(CLUSTER, self.ms), CREDS)
        # the lag's own generator: how stale each read is does not shift the plan's draws
        self.lag = LaggingKube(self.kube, random.Random(self.cfg.seed + 1), lag_cluster=self.cfg.lag_cluster)
        self.lag.observer = lambda _type, reason, message: self.say("loop-event", reason=reason, msg=message)
        await self.lag.start()
        self.start_loop()
        await self.wait_healthy(120)
        self.chk = WriteChecker(primary=self.primary_endpoint, pause=0.005)
        await self.chk.setup()
        async with await connect(self.client(self.primary), timeout=5.0) as c:
            await c.execute(
                f"CREATE TABLE IF NOT EXISTS {LONG_TABLE} (id BIGINT PRIMARY KEY, note VARCHAR(32))"
            )
        self.sampler = WritableSampler(
            instances=lambda: [(m.name, m.admin_endpoint()) for m in self.ms if m.running],
            primary=lambda: self.ms[self.primary].name,
            on_sample=self._on_two_writable,
            on_transition=lambda _t, names: self.say("writable", now=",".join(names) or "none"),
        )
        self.sampler.start()
        self.chk.start()
        self._watch = asyncio.create_task(self._watch_primary(), name="soak-primary-watch")
        self.say(
            "started",
            primary=self.name(self.primary),
            seed=self.cfg.seed,
            t0_utc=datetime.fromtimestamp(time.time() - (time.monotonic() - self.t0), UTC).isoformat(),
        )

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self.chk is not None:
            await self.chk.stop()
        if self.sampler is not None:
            await self.sampler.stop()
        await self.stop_loop()
        if hasattr(self, "lag"):
            await self.lag.stop()
        for m in self.ms:
            m.resume()

    # --- views --------------------------------------------------------------------------------------------
    @property
    def primary(self) -> int:
        return self.kube.status.current_primary_index

    def primary_endpoint(self) -> Endpoint:
        return self.client(self.primary)

    def healthy_after(self, proc: ClusterProcess | None, after: int) -> bool:
        p = self.proc
        if p is None or not p.running:
            return False
        d = p.last.decision
        newer = p.last.decision_pass > after if p is proc else p.last.decision_pass > 0
        return newer and d is not None and d.state is ClusterState.HEALTHY and d.operation is Operation.NONE

    async def wait_healthy(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Until a pass that started after this call finds the cluster Healthy; meanwhile restart
        mysqld that died (kubelet) and wipe instances listed as errant (a human's remedy)."""
        proc = self.proc
        after = proc.last.passes if proc is not None else 0
        deadline = time.monotonic() + timeout
        errant_since: dict[int, float] = {}
        dead_since: dict[int, float] = {}
        unready_since: dict[int, float] = {}
        while time.monotonic() < deadline:
            if self.healthy_after(proc, after) and all(p.ready for p in self.kube.pods.values()):
                return True
            for i, m in enumerate(self.ms):
                if m.running:
                    dead_since.pop(i, None)
                    # no fault is active between episodes: a Pod whose mysqld runs is present
                    # and ready (an injector that failed half-way may have left it otherwise)
                    if i in self._deleted:
                        self.say("pod-recreated", instance=self.name(i))
                        self.recreate_pod(i)
                        self.wake("pod-created")
                    elif (
                        not self.kube.pod(i).ready
                        and time.monotonic() - unready_since.setdefault(i, time.monotonic()) > 2.0
                    ):
                        del unready_since[i]
                        self.say("kubelet-ready", instance=self.name(i))
                        self.set_pod(i, ready=True)
                        self.wake("pod-ready")
                    continue
                # not running for a while (a restart by the supervisor takes a moment): kubelet
                # restarts the container
                if time.monotonic() - dead_since.setdefault(i, time.monotonic()) > 1.0:
                    del dead_since[i]
                    self.restarted_dead += 1
                    self.say("kubelet-restart", instance=self.name(i), last_exit=m.last_exit)
                    m.start()
                    with contextlib.suppress(TimeoutError, RuntimeError):
                        await m.wait_ready(60)
                    self.set_pod(i, ready=True)
                    self.wake("pod-ready")
            now = time.monotonic()
            listed = set(self.kube.status.errant_replica_list) - {self.primary}
            # an instance wiped here stays listed until the loop's next status update (after
            # the clone): it is not wiped again meanwhile
            self._wiped &= listed
            for i in list(errant_since):
                if i not in listed:
                    del errant_since[i]
            for i in listed - self._wiped:
                since = errant_since.setdefault(i, now)
                if now - since > 3.0 and self.ms[i].running:
                    self.recloned_errant += 1
                    self._wiped.add(i)
                    self.say("reclone-errant", instance=self.name(i))
                    wipe = WipeMysqld(index=i)
                    try:
                        await wipe.inject(self)
                        await wipe.undo(self)
                    except Exception as e:
                        self.say(
                            "reclone-errant failed", instance=self.name(i), error=f"{type(e).__name__}: {e}"
                        )
                    del errant_since[i]
            await asyncio.sleep(0.05)
        return False

    def describe_loop(self) -> str:
        p = self.proc
        d = p.last.decision if p is not None else None
        return (
            f"state={d.state.value if d else None} op={d.operation.value if d else None} "
            f"reason={d.reason if d else ''!r} error={p.last.error if p else ''!r} "
            f"primary={self.primary} pods="
            + ",".join(
                f"{q.index}:{'R' if q.ready else 'r'}{'D' if q.demote else ''}:{q.role}"
                for q in sorted(self.kube.pods.values(), key=lambda q: q.index)
            )
            + f" errant={self.kube.status.errant_replica_list} running="
            + ",".join(str(int(m.running)) for m in self.ms)
        )

    def _on_two_writable(self, smp: Sample, close: bool) -> None:
        """Print the first sample of a run of two-writable rounds (and how many followed)."""
        key = (smp.writable, close)
        if self._split_key == key and smp.at - self._split_last < 1.0:
            self._split_run += 1
        else:
            if self._split_run:
                self.say(
                    "  (the previous two-writable run",
                    more_rounds=self._split_run,
                    until=self.rel(self._split_last),
                )
            self._split_run = 0
            self.say(
                "TWO-WRITABLE" if close else "two-writable-wide",
                writable=",".join(smp.writable),
                could_commit=",".join(smp.can_commit) or "none",
                spread_ms=round(smp.spread * 1000, 2),
            )
        self._split_key, self._split_last = key, smp.at

    # --- lost writes at primary changes -----------------------------------------------------------------
    async def _watch_primary(self) -> None:
        assert self.chk is not None
        last = self.primary
        while True:
            await asyncio.sleep(0.02)
            cur = self.primary
            if cur == last:
                continue
            t = time.monotonic()
            self.primary_changes.append((t, last, cur))
            self.say("primary-change", old=self.name(last), new=self.name(cur))
            last = cur
            asyncio.create_task(self._check_change(t, cur), name="soak-change-check")  # noqa: RUF006

    async def _check_change(self, t: float, new: int) -> None:
        """Once ``new`` acknowledged a write, every write acknowledged before ``t`` must be on it."""
        chk = self.chk
        assert chk is not None
        start = len(chk.acks)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.primary == new:
            fresh = chk.acks[start:]
            if any(a.acked > t for a in fresh):
                break
            await asyncio.sleep(0.05)
        else:
            return
        if self.primary != new:
            return
        before = [a for a in chk.acks if a.acked < t]
        try:
            async with await connect(self.ms[new].admin_endpoint(), timeout=2.0, query_timeout=10.0) as c:
                rows = await c.query(f"SELECT seq FROM {DATABASE}.{TABLE}")
        except MySQLError:
            return
        present = {int(r["seq"]) for r in rows}
        missing = [a for a in before if a.seq not in present]
        for a in missing:
            if a.seq not in self.lost:
                self.lost[a.seq] = Lost(a.seq, a.server_uuid, a.acked, f"primary change to {self.name(new)}")
        if missing:
            self.say(
                "LOST",
                new_primary=self.name(new),
                missing=len(missing),
                seqs=[a.seq for a in missing[:10]],
                acked_on=sorted({self.uuids.get(a.server_uuid, a.server_uuid) for a in missing}),
            )

    # --- episodes ---------------------------------------------------------------------------------------
    async def _run_step(
        self, ep: Episode, s: Step, t_start: float, primary: int, replicas: list[int]
    ) -> None:
        f = s.fault
        if s.role == "primary":
            f.index = primary
        elif s.role == "replica":
            f.index = replicas[ep.replica_pick % len(replicas)]
        await asyncio.sleep(max(0.0, t_start + s.at - time.monotonic()))
        self.fault_counts[f.kind] += 1
        self.say(
            "inject", ep=ep.number, fault=f.kind, instance=self.name(f.index), role=s.role, params=f.params()
        )
        try:
            await f.inject(self)
        except Exception as e:
            f.note = f"inject failed: {type(e).__name__}: {e}"
        await asyncio.sleep(max(0.0, t_start + s.until - time.monotonic()))
        try:
            await f.undo(self)
        except Exception as e:
            f.note = f"undo failed: {type(e).__name__}: {e}"
        if f.kind not in ("demote",):
            self.say("undo", ep=ep.number, fault=f.kind, instance=self.name(f.index), note=f.note)

    async def run_episode(self, ep: Episode) -> None:
        await asyncio.sleep(ep.gap_before)
        primary = self.primary
        replicas = [i for i in range(len(self.ms)) if i != primary]
        ep.started = time.monotonic()
        self.say("episode", ep=ep.number, kind=ep.kind, primary=self.name(primary))
        await asyncio.gather(*(self._run_step(ep, s, ep.started, primary, replicas) for s in ep.steps))
        ep.ended = time.monotonic()

    async def run(self) -> None:
        long_row = 1
        number = 0
        while sum(self.fault_counts.values()) < self.cfg.faults:
            if time.monotonic() - self.t0 > self.cfg.max_duration:
                self.say("duration bound reached")
                break
            if not await self.wait_healthy(self.cfg.healthy_timeout):
                self.stuck = f"not Healthy {self.cfg.healthy_timeout:.0f}s after episode {number}: " + (
                    self.describe_loop()
                )
                self.say("STUCK", detail=self.stuck)
                return
            number += 1
            ep = draw_episode(self.rng, number, self.cfg, long_row)
            long_row += 1
            self.episodes.append(ep)
            await self.run_episode(ep)

    async def finish(self) -> dict[str, Any]:
        """Let the cluster settle, stop writing and verify everything."""
        assert self.chk is not None
        assert self.sampler is not None
        if self.proc is None or not self.proc.running:
            self.start_loop()
        self.lag.set_lag(0.0)
        settled = await self.wait_healthy(self.cfg.healthy_timeout)
        if not settled and not self.stuck:
            self.stuck = "not Healthy at the end: " + self.describe_loop()
            self.say("STUCK", detail=self.stuck)
        await asyncio.sleep(1.0)
        await self.chk.stop()
        self.sampler.finish()
        await self.sampler.stop()
        if self._watch is not None:
            self._watch.cancel()
        primary = self.primary
        replica_missing: dict[str, int] = {}
        final_ok = True
        try:
            rep = await self.chk.verify(self.ms[primary].admin_endpoint())
            for seq in rep.missing:
                if seq not in self.lost:
                    a = next(x for x in self.chk.acks if x.seq == seq)
                    self.lost[seq] = Lost(seq, a.server_uuid, a.acked, f"final primary {self.name(primary)}")
            async with await connect(self.ms[primary].admin_endpoint(), timeout=5.0) as c:
                rows = await c.query(f"SELECT id FROM {LONG_TABLE}")
            have = {int(r["id"]) for r in rows}
            self.lost_long = [row for row, _, _ in self.long_acks if row not in have]
            for i, m in enumerate(self.ms):
                if i == primary or not m.running:
                    continue
                replica_missing[self.name(i)] = await self._replica_missing(i)
        except MySQLError as e:
            final_ok = False
            self.say("VERIFY FAILED", error=str(e))
        return self.result(primary, replica_missing, final_ok)

    async def _replica_missing(self, i: int) -> int:
        assert self.chk is not None
        deadline = time.monotonic() + 20
        while True:
            try:
                rep = await self.chk.verify(self.ms[i].admin_endpoint())
                n = len(rep.missing)
            except MySQLError:
                n = -1
            if n == 0 or time.monotonic() > deadline:
                return n
            await asyncio.sleep(0.2)

    def active_at(self, t: float) -> list[str]:
        """Episodes running at ``t`` (or ended within 5 s before it)."""
        return [f"{e.number}:{e.kind}" for e in self.episodes if e.started <= t <= (e.ended or t) + 5.0]

    def split_runs(self, samples: list[Sample]) -> list[dict[str, Any]]:
        """Two-writable samples grouped into runs (same servers, rounds less than 1 s apart)."""
        runs: list[list[Sample]] = []
        for smp in samples:
            if runs and runs[-1][-1].writable == smp.writable and smp.at - runs[-1][-1].at < 1.0:
                runs[-1].append(smp)
            else:
                runs.append([smp])
        return [
            {
                "from": self.rel(r[0].at),
                "to": self.rel(r[-1].at),
                "rounds": len(r),
                "writable": list(r[0].writable),
                "max_spread_ms": round(max(x.spread for x in r) * 1000, 2),
                "rounds_two_could_commit": sum(1 for x in r if len(x.can_commit) > 1),
                "episodes": self.active_at(r[0].at),
            }
            for r in runs
        ]

    def result(self, primary: int, replica_missing: dict[str, int], final_ok: bool) -> dict[str, Any]:
        assert self.chk is not None
        assert self.sampler is not None
        reasons = Counter(self.kube.reasons())
        acks = self.chk.acks
        longest_no_ack = max((b.acked - a.acked for a, b in itertools.pairwise(acks)), default=0.0)
        smp = self.sampler
        lost = sorted(self.lost.values(), key=lambda x: x.seq)
        return {
            "faults": sum(self.fault_counts.values()),
            "failovers": reasons[EV_FAILOVER_SUCCEEDED],
            "switchovers": reasons[EV_SWITCHOVER_SUCCEEDED],
            "lost_acknowledged_writes": len(lost) + len(self.lost_long),
            "two_writable_samples": len(smp.two_writable),
            "two_writable_longest_run_s": round(
                max((r["to"] - r["from"] for r in self.split_runs(smp.two_writable)), default=0.0), 3
            ),
            "longest_no_primary_s": round(smp.longest_no_writable, 3),
            "seed": self.cfg.seed,
            "acknowledged_writes": len(acks) + len(self.long_acks),
            "duration_s": round(time.monotonic() - self.t0, 1),
            "episodes": len(self.episodes),
            "fault_counts": dict(sorted(self.fault_counts.items())),
            "failover_failures": reasons["FailOverFailed"],
            "switchover_failures": reasons["SwitchOverFailed"],
            "clones": reasons["Cloned"],
            "recloned_errant": self.recloned_errant,
            "kubelet_restarts": self.restarted_dead,
            "loops_started": self.loops_started,
            "longest_no_ack_s": round(longest_no_ack, 3),
            "two_writable_wide_samples": len(smp.two_writable_wide),
            "two_committing_samples": len(smp.two_committing),
            "sampler_rounds": smp.rounds,
            "stale_reads": self.lag.stale_reads,
            "replica_missing": replica_missing,
            "final_primary": self.name(primary),
            "stuck": self.stuck,
            "verified": final_ok,
            "lost_detail": [
                {
                    "seq": x.seq,
                    "acked_on": self.uuids.get(x.server_uuid, x.server_uuid),
                    "acked_at": self.rel(x.acked_at),
                    "found_at": x.where,
                    "episodes": self.active_at(x.acked_at),
                }
                for x in lost[:20]
            ]
            + [{"long_trx_row": r} for r in self.lost_long[:10]],
            "two_writable_runs": self.split_runs(smp.two_writable)[:20],
            "longest_no_primary_ended_at": self.rel(smp.longest_no_writable_end),
        }


def targets_met(r: dict[str, Any]) -> bool:
    """The soak's targets."""
    return (
        r["lost_acknowledged_writes"] == 0
        and r["two_committing_samples"] == 0
        and r["two_writable_longest_run_s"] <= TARGET_TWO_WRITABLE_RUN_S
        and r["longest_no_primary_s"] <= TARGET_LONGEST_NO_PRIMARY_S
        and not r["stuck"]
        and r["verified"]
        and all(n == 0 for n in r["replica_missing"].values())
    )


async def run(cfg: SoakConfig, timeline: str = "") -> dict[str, Any]:
    """One soak run; returns the result object (the last line ``make soak`` prints). The
    timeline goes to the file ``timeline`` (JSON lines) when one is named."""
    ground = MysqldGround()
    soak = Soak(ground, cfg)
    try:
        await soak.start()
        await soak.run()
        result = await soak.finish()
    finally:
        with contextlib.suppress(Exception):
            await soak.close()
        await asyncio.to_thread(ground.close)
    result["ok"] = targets_met(result)
    if timeline:
        text = "".join(json.dumps(entry, default=str) + "\n" for entry in soak.timeline)
        await asyncio.to_thread(Path(timeline).write_text, text)
    if cfg.verbose:
        for e in soak.episodes:
            notes = "; ".join(f"{s.fault.kind}: {s.fault.note}" for s in e.steps if s.fault.note)
            if notes:
                print(f"episode {e.number} ({e.kind}): {notes}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(prog="python -m moco.bench.soak", description=doc.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: drawn and printed)")
    ap.add_argument("--faults", type=int, default=SoakConfig.faults)
    ap.add_argument("--max-duration", type=float, default=SoakConfig.max_duration)
    ap.add_argument("--max-lag", type=float, default=SoakConfig.max_lag)
    ap.add_argument("--no-lag-cluster", action="store_true", help="only the Pods lag, not the cluster")
    ap.add_argument("--timeline", default="", help="write the timeline (JSON lines) to this file")
    ap.add_argument("--log-level", default="WARNING", help="the loop's log (stderr)")
    ap.add_argument("--log-format", default="console", choices=["console", "json"])
    args = ap.parse_args(argv)
    setup(args.log_level, args.log_format)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    print(f"soak seed={seed} (replay: python -m moco.bench.soak --seed {seed})", flush=True)
    cfg = SoakConfig(
        seed=seed,
        faults=args.faults,
        max_duration=args.max_duration,
        max_lag=args.max_lag,
        lag_cluster=not args.no_lag_cluster,
    )
    result = asyncio.run(run(cfg, args.timeline))
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
