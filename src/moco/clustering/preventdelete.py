"""Pod deletion protection: MOCO's ``moco.cybozu.com/prevent-delete`` and ``maxDelaySecondsForPodDeletion``.

Deleting the primary's Pod while a replica lags far behind makes that replica the next primary
only after it has applied everything (a long write stop), or loses what it has not received
when the Pod goes for good. MOCO protects the primary then: the clustering loop annotates its
Pod, and an admission rule (here the ``moco-prevent-delete`` ValidatingAdmissionPolicy of
:mod:`moco.api.policy`) refuses to delete an annotated Pod. The rules, in order:

1. ``spec.maxDelaySecondsForPodDeletion`` of 0 (the default) protects nothing;
2. an offline cluster protects nothing: its Pods are going away, and a held Pod would keep it
   from going offline;
3. the primary is protected while a replica reports a ``Seconds_Behind_Source`` above the bound
   (MOCO's test). An unknown lag (NULL while the SQL thread is stopped, an unreachable replica)
   does not count, as in MOCO;
4. while protected, the annotation is on the primary's Pod, unless that Pod is already being
   deleted (the policy lets a terminating Pod go: its final deletion must not hang); it is
   removed from every other Pod (a former primary's, after a failover), and from every Pod when
   nothing is protected, including one a user set by hand, as MOCO does;
5. while protected, a switchover asked with the demote annotation waits (MOCO's): it would
   make a lagging replica the primary. One for a primary Pod already being deleted goes on: the
   Pod goes anyway, and a switchover, which lets the candidate catch up first, is the better way.

Everything here is pure; the loop applies :func:`annotation_changes` each pass and passes
every decision through :func:`hold_switchover`.
"""

from __future__ import annotations

from dataclasses import replace

from moco.clustering.decide import drift
from moco.clustering.types import ClusterState, Decision, Operation, StatusSet

#: The reason a held switchover gives (the decision's reason, shown in the status).
SWITCHOVER_HELD = "switchover held: a replica lags more than spec.maxDelaySecondsForPodDeletion"


def lagging_replicas(ss: StatusSet) -> tuple[int, ...]:
    """Replicas whose reported lag is above the bound (rules 1-3; empty when nothing is)."""
    bound = ss.cluster.max_delay_seconds_for_pod_deletion
    if bound <= 0 or ss.cluster.offline:
        return ()
    out = []
    for i, ist in enumerate(ss.instances):
        if i == ss.primary or ist is None or ist.replica is None:
            continue
        lag = ist.replica.lag_seconds
        if lag is not None and lag > bound:
            out.append(i)
    return tuple(out)


def protected(ss: StatusSet) -> bool:
    """Whether the primary's Pod is protected from deletion this pass."""
    return bool(lagging_replicas(ss))


def annotation_changes(ss: StatusSet) -> tuple[tuple[str, bool], ...]:
    """``(pod name, annotate)`` for every Pod whose annotation must change (rule 4)."""
    protect = protected(ss)
    out = []
    for i, pod in enumerate(ss.pods):
        if pod is None:
            continue
        want = protect and i == ss.primary and not pod.deleting
        if pod.prevent_delete != want:
            out.append((pod.name, want))
    return tuple(out)


def switchover_held(ss: StatusSet) -> bool:
    """Whether a switchover of the primary waits (rule 5)."""
    ppod = ss.pods[ss.primary] if 0 <= ss.primary < len(ss.pods) else None
    return ppod is not None and not ppod.deleting and protected(ss)


def hold_switchover(d: Decision, ss: StatusSet) -> Decision:
    """``d``, with a held switchover (rule 5) replaced by what the pass does otherwise."""
    if d.operation is not Operation.SWITCHOVER or not switchover_held(ss):
        return d
    if d.state is ClusterState.DEGRADED:
        return replace(d, operation=Operation.CONFIGURE, reason=f"degraded; {SWITCHOVER_HELD}")
    why = drift(ss)
    return replace(d, operation=Operation.CONFIGURE if why else Operation.NONE, reason=why or SWITCHOVER_HELD)
