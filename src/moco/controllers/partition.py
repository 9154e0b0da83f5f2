"""The partition controller: steps a partitioned rolling update down, one Pod at a time.

When the Pod template changes, the reconciler sets ``partition = replicas``; this controller
lowers it by one each time the rollout may go on (MOCO's partition controller):

* the reconciler has observed the cluster's generation and the StatefulSet controller its own;
* every Pod exists; the Pods at or above the partition run the update revision; every Pod but
  the next target is Ready, not terminating, with all its containers ready;
* the next target is the primary: it is demoted first (``moco.cybozu.com/demote``, the clustering
  loop switches over to an updated replica) and the step waits until it is a replica, so the
  primary's Pod is restarted after the replicas and never while it serves writes;
* the cluster is Healthy -- unless the target itself is not ready (restarting it may cure it).

:func:`decide_step` is the pure decision; :class:`PartitionReconciler` reads the caches and
patches. The ``force-rolling-update`` annotation bypasses all of it (the StatefulSet controller
replaces every Pod at once).

``--partition-update-interval`` (MOCO's flag; 0, the default, is no limit) spaces the partition
updates of all clusters together: one per interval (:class:`UpdateLimiter`, MOCO's token bucket
of burst 1). A step the limit holds back is retried when the next update is allowed and counted
in ``moco_cluster_partition_update_retries_total{namespace}`` (MOCO's metric and label). Unlike
MOCO, which takes a token on every reconcile, only a partition update takes one: a reconcile that
merely waits (or demotes the primary) is not held back and takes none.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from moco import constants
from moco.controllers import clustermetrics
from moco.controllers.statefulset import live_partition
from moco.kube.client import Client
from moco.kube.controller import Result
from moco.kube.events import EventRecorder
from moco.kube.resource import PODS, STATEFULSETS
from moco.kube.store import Obj, Store, split_key
from moco.log import get_logger

log = get_logger("moco.controllers.partition")
REVISION_LABEL = "controller-revision-hash"


class Step(enum.Enum):
    NOTHING = "nothing"
    WAIT = "wait"
    DEMOTE = "demote"
    LOWER = "lower"


@dataclass(frozen=True)
class Decision:
    step: Step
    reason: str = ""
    #: the Pod to demote, or the new partition
    target: str = ""
    partition: int = 0


def _ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _containers_ready(pod: Obj) -> bool:
    st = pod.get("status") or {}
    statuses = [*(st.get("initContainerStatuses") or []), *(st.get("containerStatuses") or [])]
    return all(c.get("ready") for c in statuses if c.get("name") not in _init_done(st))


def _init_done(st: Obj) -> set[str]:
    """Init containers that terminated successfully count as ready."""
    done = set()
    for c in st.get("initContainerStatuses") or []:
        term = (c.get("state") or {}).get("terminated") or {}
        if term.get("exitCode") == 0:
            done.add(c.get("name"))
    return done


def _condition_true(cluster: Obj, type_: str) -> bool:
    conds = (cluster.get("status") or {}).get("conditions") or []
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conds)


def decide_step(cluster: Obj, sts: Obj, pods: Sequence[Obj]) -> Decision:
    """What to do next for one StatefulSet (see the module docstring)."""
    meta, spec, status = sts.get("metadata") or {}, sts.get("spec") or {}, sts.get("status") or {}
    if (meta.get("annotations") or {}).get(constants.ANN_FORCE_ROLLING_UPDATE) == "true":
        return Decision(Step.NOTHING, "force-rolling-update")
    partition = live_partition(sts)
    if partition <= 0:
        return Decision(Step.NOTHING, "no partition")
    generation = (cluster.get("metadata") or {}).get("generation")
    if ((cluster.get("status") or {}).get("reconcileInfo") or {}).get("generation") != generation:
        return Decision(Step.WAIT, "the cluster's reconciliation is not finished")
    if meta.get("generation") != status.get("observedGeneration"):
        return Decision(Step.WAIT, "the StatefulSet controller has not observed the spec")
    replicas = int(spec.get("replicas", 1))
    if replicas == status.get("updatedReplicas"):
        return Decision(Step.LOWER, "every Pod is updated", partition=partition - 1)
    by_index: dict[int, Obj] = {}
    prefix = f"{meta.get('name')}-"
    for p in pods:
        name = p["metadata"]["name"]
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            by_index[int(name[len(prefix) :])] = p
    if len(by_index) != replicas:
        return Decision(Step.WAIT, f"{len(by_index)} Pods exist, {replicas} expected")
    target_index = partition - 1
    target = by_index.get(target_index)
    if target is None:
        return Decision(Step.WAIT, f"Pod {target_index} is missing")
    update_rev = status.get("updateRevision")
    labels = target["metadata"].get("labels") or {}
    if labels.get(REVISION_LABEL) == update_rev:
        return Decision(Step.LOWER, "the target already runs the update", partition=partition - 1)
    if _ready(target) and not _condition_true(cluster, "Healthy"):
        return Decision(Step.WAIT, "the cluster is not healthy")
    for i, p in sorted(by_index.items()):
        if i == target_index:
            continue
        plabels = p["metadata"].get("labels") or {}
        if i >= partition and plabels.get(REVISION_LABEL) != update_rev:
            return Decision(Step.WAIT, f"Pod {i} is not updated yet")
        if p["metadata"].get("deletionTimestamp"):
            return Decision(Step.WAIT, f"Pod {i} is terminating")
        if not _ready(p) or not _containers_ready(p):
            return Decision(Step.WAIT, f"Pod {i} is not ready")
    if replicas > 1 and labels.get(constants.LABEL_ROLE) == constants.ROLE_PRIMARY:
        return Decision(Step.DEMOTE, "the target is the primary", target=target["metadata"]["name"])
    return Decision(Step.LOWER, "ready for the next Pod", partition=partition - 1)


class UpdateLimiter:
    """At most one partition update per ``interval`` seconds over all clusters (0: no limit).

    A token bucket of burst 1 (golang.org/x/time/rate's ``NewLimiter(Every(interval), 1)``, as
    MOCO builds it): the first update passes at once, each later one ``interval`` after the
    previous one that passed. ``clock`` is monotonic seconds (a parameter for tests).
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        if interval < 0:
            raise ValueError(f"--partition-update-interval must be >= 0, got {interval}")
        self.interval = interval
        self._clock = clock
        self._next: float | None = None

    def allow(self) -> bool:
        """Take the token if it is there."""
        if self.interval == 0:
            return True
        now = self._clock()
        if self._next is not None and now < self._next:
            return False
        self._next = now + self.interval
        return True

    def wait(self) -> float:
        """Seconds until the next update may pass (0 when it may now)."""
        if self._next is None:
            return 0.0
        return max(self._next - self._clock(), 0.0)


class PartitionReconciler:
    """Applies :func:`decide_step` to the StatefulSets moco owns."""

    def __init__(
        self,
        client: Client,
        clusters: Store,
        statefulsets: Store,
        pods: Store,
        *,
        recorder: EventRecorder | None = None,
        timeout: float = 10.0,
        wait_interval: float = 10.0,
        update_interval: float = 0.0,
    ) -> None:
        self.client = client
        self.clusters = clusters
        self.statefulsets = statefulsets
        self.pods = pods
        self.recorder = recorder or EventRecorder(client, "moco-controller")
        self.timeout = timeout
        self.wait_interval = wait_interval
        self.limiter = UpdateLimiter(update_interval)

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_key(key)
        sts = self.statefulsets.get(key)
        if sts is None:
            return None
        owner = next(
            (r for r in sts["metadata"].get("ownerReferences") or [] if r.get("kind") == "MySQLCluster"), None
        )
        if owner is None:
            return None
        cluster = self.clusters.get(f"{ns}/{owner['name']}")
        if cluster is None:
            return None
        pods = [p for p in self.pods.list(ns) if p["metadata"]["name"].startswith(f"{name}-")]
        d = decide_step(cluster, sts, pods)
        if d.step is Step.NOTHING:
            return None
        if d.step is Step.WAIT:
            log.debug("rollout waits", statefulset=name, namespace=ns, reason=d.reason)
            return Result(requeue_after=self.wait_interval)
        if d.step is Step.DEMOTE:
            demote: Obj = {"metadata": {"annotations": {constants.ANN_DEMOTE: "true"}}}
            await self.client.patch(PODS, d.target, demote, ns, request_timeout=self.timeout)
            log.info("primary demoted before its update", pod=d.target, namespace=ns)
            return Result(requeue_after=self.wait_interval)
        if not self.limiter.allow():
            clustermetrics.partition_update_retried(ns or "")
            log.debug(
                "partition update held back by --partition-update-interval", statefulset=name, namespace=ns
            )
            return Result(requeue_after=max(self.limiter.wait(), 0.1))
        old = live_partition(sts)
        patch: Obj = {"spec": {"updateStrategy": {"rollingUpdate": {"partition": d.partition}}}}
        await self.client.patch(
            STATEFULSETS,
            name,
            patch,
            ns,
            field_manager=constants.FIELD_MANAGER,
            request_timeout=self.timeout,
        )
        log.info("partition lowered", statefulset=name, namespace=ns, partition=d.partition)
        clustermetrics.partition_updated(ns or "", str(owner["name"]))
        await self.recorder.normal(sts, "PartitionUpdate", f"Updated partition from {old} to {d.partition}")
        return Result(requeue_after=self.wait_interval) if d.partition > 0 else None
