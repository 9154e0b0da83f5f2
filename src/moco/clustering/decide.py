"""Pure decisions: errant replicas, the cluster state, the operation, the failover candidate.

The state follows MOCO's definitions and order of precedence: Offline, Cloning, Restoring,
Healthy, Degraded, Failed, Lost, and Incomplete when nothing else fits. Invariants:

- an errant replica is never counted as a healthy replica, never a switchover target and never
  a failover candidate;
- a failover needs evidence that the primary is gone: it answered with no data, or it failed
  the tries the loop confirms over time (``primary_down_confirmed``), or its mysqld container
  crashed (``primary_crashed``: the same Pod's container restarted or stopped since the primary
  was last seen writable, and it is unreachable or came back read-only; it is then treated as
  unreachable, whatever it answers, unless no replica could take over: then it is restarted in
  place). A missing Pod, a Pod being deleted, a re-created Pod and a
  not-ready Pod are no evidence (offline->online, a full restart, a force-rolling-update, a
  flapping probe), so nothing is done while any Pod is missing (MOCO does nothing while the Pod
  count differs from replicas);
- Failed (and so a failover) needs more than half of the replicas intact: a replica that
  replicates, holds data (applied or only received) and is not errant; with fewer the state
  is Lost and nothing is done;
- an instance that answered but whose status could not be read completely (``unreadable``)
  is unknown, not gone: an unreadable primary is never failed over, and nothing is configured
  around it;
- a replica counts as in sync only when both replication threads run, it points at the current
  primary, it is super_read_only and it lags at most ``maxDelaySeconds`` (0 disables the lag
  check). MOCO gets the last two through the agent's readiness probe; here they are also read
  directly, so the decision does not depend on how fast readiness follows.

Nothing here does I/O: the functions take frozen values and return frozen values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from moco import constants
from moco.clustering.errors import NoCandidateError
from moco.clustering.sourcetls import replicates_from, source_address
from moco.clustering.types import (
    ClusterSpecView,
    ClusterState,
    Decision,
    InstanceView,
    Operation,
    PodInfo,
    StatusSet,
)
from moco.mysql.gtid import GtidSet
from moco.mysql.status import CLONE_COMPLETED

CLONE_FAILED = "Failed"
#: Why a Failed cluster is not failed over (yet): the decision's reason, shown in the status.
WAIT_PODS = "the primary is unreachable, but a Pod is missing: waiting for every Pod"
WAIT_CONFIRM = "the primary is unreachable; failover waits until that is confirmed"
#: The decision's reason when the primary's mysqld container crashed.
PRIMARY_CRASHED = "the primary's mysqld container restarted"
#: The decision's reason when the evidence that the primary is gone is complete (the loop
#: words it after the evidence, see ``moco.clustering.evidence.why``).
PRIMARY_UNREACHABLE = "the primary is unreachable"


def find_errants(
    primary_index: int,
    instances: Sequence[InstanceView | None],
    remembered: Sequence[int] = (),
) -> frozenset[int]:
    """Indices of replicas whose executed GTIDs hold transactions the primary never had.

    A GTID of the primary's own UUID that a replica already executed is not errant (under load a
    replica may report a newer ``gtid_executed`` than the primary a moment earlier). When the
    primary cannot be asked, the list remembered in the status is used.
    """
    pst = instances[primary_index] if 0 <= primary_index < len(instances) else None
    if pst is None or not pst.executed_gtid:
        return frozenset(i for i in remembered if 0 <= i < len(instances) and i != primary_index)
    primary = GtidSet.parse(pst.executed_gtid)
    uuid = pst.server_uuid.lower()
    out = set()
    for i, ist in enumerate(instances):
        if i == primary_index or ist is None:
            continue
        extra = GtidSet.parse(ist.executed_gtid) - primary
        if extra.uuids() - {uuid}:
            out.add(i)
    return frozenset(out)


def _points_at(ist: InstanceView, pod: PodInfo | None, replica: PodInfo | None) -> bool:
    """Replicates from ``pod`` as moco configures it: over TLS, verified when both serve moco's
    certificate (:mod:`moco.clustering.sourcetls`; a replica set up otherwise, by an older moco or
    before a rollout moved on, is not in sync until it is pointed again)."""
    if ist.replica is None or pod is None:
        return False
    return replicates_from(ist.replica, source_address(pod, replica))


def _in_cluster(cluster: ClusterSpecView, server_ids: Sequence[int]) -> int:
    lo = cluster.server_id_base
    return sum(1 for sid in server_ids if lo <= sid < lo + cluster.replicas)


def _ready(pod: PodInfo | None) -> bool:
    return pod is not None and pod.ready


def _lost_data(ss: StatusSet) -> bool:
    """The primary answers with no data while a replica has some: it lost its data."""
    if ss.instances[ss.primary] is None or ss.primary_gtid:
        return False
    return any(ist is not None and ist.executed_gtid for i, ist in enumerate(ss.instances) if i != ss.primary)


def _primary_mode_ok(ss: StatusSet, pst: InstanceView) -> bool:
    if ss.cluster.replication_source_secret is not None:
        return pst.super_read_only
    return not pst.read_only


def replica_in_sync(ss: StatusSet, index: int) -> bool:
    """The replica serves reads from the current primary (see the module invariants)."""
    ist = ss.instances[index]
    if ist is None or index in ss.errants or not ist.super_read_only or ist.replica is None:
        return False
    if not _points_at(ist, ss.pods[ss.primary], ss.pods[index]):
        return False
    if not (ist.replica.io_running and ist.replica.sql_running):
        return False
    max_delay = ss.cluster.max_delay_seconds
    lag = ist.replica.lag_seconds
    return not (max_delay > 0 and (lag is None or lag > max_delay))


def first_connect_underway(
    ist: InstanceView, pod: PodInfo | None, *, semisync: bool, replica: PodInfo | None = None
) -> bool:
    """The replica is set up to replicate from ``pod`` as moco configures it (TLS, semi-sync as
    wanted, applier running) and its IO thread makes its first connect since START REPLICA
    (``Connecting`` with no IO error). ``configure`` leaves such a replica alone: restarting the
    thread starts the connect over, and a pass that follows at once kept restarting it before it
    ever connected (the new primary's first commit waited for its acknowledgement meanwhile)."""
    r = ist.replica
    return (
        r is not None
        and _points_at(ist, pod, replica)
        and r.io_connecting
        and not r.last_io_errno
        and r.sql_running
        and ist.semisync_replica_enabled == semisync
    )


def _is_cloning(ss: StatusSet) -> bool:
    c = ss.cluster
    if c.replication_source_secret is None or c.cloned:
        return False
    pst = ss.instances[ss.primary]
    if pst is None:
        return True
    if pst.clone_state is not None:
        return pst.clone_state != CLONE_COMPLETED
    return not pst.executed_gtid


def _is_healthy(ss: StatusSet) -> tuple[bool, tuple[int, ...]]:
    if not all(_ready(p) for p in ss.pods):
        return False, ()
    candidates = []
    for i in range(len(ss.instances)):
        if i == ss.primary:
            continue
        if not replica_in_sync(ss, i):
            return False, ()
        candidates.append(i)
    pst = ss.instances[ss.primary]
    if pst is None:
        return False, ()
    if _in_cluster(ss.cluster, pst.replica_server_ids) != ss.cluster.replicas - 1:
        return False, ()
    if not _primary_mode_ok(ss, pst):
        return False, ()
    return True, tuple(candidates)


def _is_degraded(ss: StatusSet) -> tuple[bool, tuple[int, ...]]:
    if not _ready(ss.pods[ss.primary]) or _lost_data(ss):
        return False, ()
    pst = ss.instances[ss.primary]
    if pst is None or not _primary_mode_ok(ss, pst):
        return False, ()
    half = ss.cluster.replicas // 2
    if _in_cluster(ss.cluster, pst.replica_server_ids) < half:
        return False, ()
    ok = tuple(
        i
        for i in range(len(ss.instances))
        if i != ss.primary and _ready(ss.pods[i]) and replica_in_sync(ss, i)
    )
    return len(ok) >= half and len(ok) != ss.cluster.replicas - 1, ok


def intact_replicas(ss: StatusSet) -> tuple[int, ...]:
    """Replicas that replicate (threads may be stopped), hold data and are not errant.

    Data received and not applied yet counts (a failover applies it before the candidate
    opens): right after a new cluster's first writes, semi-sync guarantees only that they
    were received.
    """
    return tuple(
        i
        for i, ist in enumerate(ss.instances)
        if i != ss.primary
        and ist is not None
        and ist.replica is not None
        and i not in ss.errants
        and (ist.executed_gtid or ist.replica.retrieved_gtid)
    )


def _primary_gone(ss: StatusSet) -> bool:
    if ss.primary in ss.unreadable:
        return False  # it answered: unknown, not gone
    return ss.instances[ss.primary] is None or _lost_data(ss)


def decide_state(ss: StatusSet) -> tuple[ClusterState, tuple[int, ...]]:
    """The state by MOCO's precedence, and the in-sync replicas (switchover candidates)."""
    if ss.cluster.offline:
        return ClusterState.OFFLINE, ()
    if _is_cloning(ss):
        return ClusterState.CLONING, ()
    if ss.cluster.restoring:
        return ClusterState.RESTORING, ()
    healthy, cands = _is_healthy(ss)
    if healthy:
        return ClusterState.HEALTHY, cands
    degraded, cands = _is_degraded(ss)
    if degraded:
        return ClusterState.DEGRADED, cands
    if _primary_gone(ss):
        if len(intact_replicas(ss)) > ss.cluster.replicas // 2:
            return ClusterState.FAILED, ()
        return ClusterState.LOST, ()
    return ClusterState.INCOMPLETE, ()


def needs_switch(pod: PodInfo | None) -> bool:
    """The primary's Pod is going away or asked to step down."""
    return pod is not None and (pod.deleting or pod.demote)


def expected_role(ss: StatusSet, index: int) -> str | None:
    """The role label an instance should carry (None: no label, e.g. errant or missing)."""
    if index == ss.primary:
        return constants.ROLE_PRIMARY
    if index in ss.errants:
        return None
    return constants.ROLE_REPLICA


def drift(ss: StatusSet) -> str:
    """Why a Healthy cluster still needs ``configure`` (``""``: it does not)."""
    for i, pod in enumerate(ss.pods):
        if pod is not None and pod.role != expected_role(ss, i):
            return f"role label of {pod.name}"
        if pod is not None and pod.demote and i != ss.primary:
            return f"stale demote annotation of {pod.name}"
    pst = ss.instances[ss.primary]
    external = ss.cluster.replication_source_secret is not None
    wanted_wait = ss.cluster.replicas // 2
    if (
        pst is not None
        and not external
        and ss.cluster.replicas > 1
        and (
            not pst.semisync_source_enabled
            or pst.semisync_wait_count != wanted_wait
            or not pst.semisync_wait_no_replica
        )
    ):
        return "semi-sync of the primary"
    for i, ist in enumerate(ss.instances):
        if i == ss.primary or ist is None:
            continue
        if ist.semisync_replica_enabled == external:
            return f"semi-sync of replica {i}"
        if ist.semisync_source_enabled:
            return f"replica {i} still waits for semi-sync acknowledgements as a source"
    return ""


def _without_crashed_primary(ss: StatusSet) -> StatusSet:
    """The status with a crashed primary counted as unreachable (see ``primary_crashed``)."""
    if not ss.primary_crashed:
        return ss
    instances = tuple(None if i == ss.primary else ist for i, ist in enumerate(ss.instances))
    return replace(ss, instances=instances, unreadable=ss.unreadable - {ss.primary})


def decide(ss: StatusSet) -> Decision:
    """The state and the one operation this pass applies."""
    as_crashed = _without_crashed_primary(ss)
    state, cands = decide_state(as_crashed)
    if state is ClusterState.LOST and as_crashed is not ss and ss.instances[ss.primary] is not None:
        # no replica can take over (none holds data): the crashed primary that came back is
        # the best there is, and it is made writable again in place
        state, cands = decide_state(ss)
    else:
        ss = as_crashed
    candidate = min(cands) if cands else None
    if state in (ClusterState.HEALTHY, ClusterState.DEGRADED):
        ppod = ss.pods[ss.primary]
        if needs_switch(ppod) and candidate is not None:
            why = "deleting" if ppod is not None and ppod.deleting else "demote annotation"
            return Decision(state, Operation.SWITCHOVER, cands, candidate, f"primary Pod: {why}")
        if state is ClusterState.DEGRADED:
            return Decision(state, Operation.CONFIGURE, cands, candidate, "degraded")
        why = drift(ss)
        return Decision(state, Operation.CONFIGURE if why else Operation.NONE, cands, candidate, why)
    if state is ClusterState.CLONING:
        pst = ss.instances[ss.primary]
        if pst is not None and (pst.clone_state is None or pst.clone_state == CLONE_FAILED):
            return Decision(state, Operation.CLONE, reason="initial clone from the external source")
        return Decision(state, Operation.NONE, reason="clone in progress or primary unreachable")
    if state is ClusterState.FAILED:
        if ss.instances[ss.primary] is not None:
            return Decision(state, Operation.FAILOVER, reason="the primary lost its data")
        if any(p is None for p in ss.pods):
            return Decision(state, Operation.NONE, reason=WAIT_PODS)
        if ss.primary_crashed:
            return Decision(state, Operation.FAILOVER, reason=PRIMARY_CRASHED)
        if not ss.primary_down_confirmed:
            return Decision(state, Operation.NONE, reason=WAIT_CONFIRM)
        return Decision(state, Operation.FAILOVER, reason=PRIMARY_UNREACHABLE)
    if state is ClusterState.INCOMPLETE:
        if ss.instances[ss.primary] is None:
            return Decision(state, Operation.NONE, reason="the primary's status is unreadable")
        return Decision(state, Operation.CONFIGURE, reason="incomplete")
    return Decision(state, Operation.NONE)


def failover_candidate(primary_index: int, fresh: Mapping[int, InstanceView], errants: frozenset[int]) -> int:
    """The replica whose received-or-executed GTIDs include every other candidate's.

    ``fresh`` maps replica indices to their status read after every IO thread was stopped.
    Errant replicas and replicas without replication status are excluded; among equals the
    lowest index wins. Raises :class:`NoCandidateError` when no one holds everything the others
    hold (choosing any would lose transactions).
    """
    return failover_candidates(primary_index, fresh, errants)[0]


def failover_candidates(
    primary_index: int, fresh: Mapping[int, InstanceView], errants: frozenset[int]
) -> tuple[int, ...]:
    """Every replica that holds everything the others hold, lowest index first.

    The failover tries them in order: one whose applier cannot apply what it received (an SQL
    error) is passed over for the next. Raises :class:`NoCandidateError` when there is none.
    """
    sets: dict[int, GtidSet] = {}
    for i, ist in sorted(fresh.items()):
        if i == primary_index or i in errants or ist is None or ist.replica is None:
            continue
        sets[i] = GtidSet.parse(ist.executed_gtid) | GtidSet.parse(ist.replica.retrieved_gtid)
    if not sets:
        raise NoCandidateError("no replica can be promoted")
    out = tuple(i for i, mine in sets.items() if all(other <= mine for other in sets.values()))
    if out:
        return out
    raise NoCandidateError("replicas diverge: " + "; ".join(f"{i}={s}" for i, s in sets.items()))


def can_catch_up(replica: InstanceView, primary: InstanceView) -> bool:
    """The primary still has every binary log the replica needs (nothing it lacks was purged).

    Only ``gtid_executed`` counts as held: what the replica merely retrieved sits in relay logs
    that CHANGE REPLICATION SOURCE discards (MOCO issue #731).
    """
    purged = GtidSet.parse(primary.purged_gtid)
    have = GtidSet.parse(replica.executed_gtid)
    return (purged - have).is_empty()
