"""The narrow interfaces through which the clustering loop touches the world.

The loop never imports Kubernetes: it reads and writes through :class:`KubeSide`, one object
per MySQLCluster, which the controller implements over its informer cache and API client, and
tests implement in memory. Clones of a mysqld are asked of :class:`CloneAgent` (in production
the agent sidecar of the Pod, which restarts mysqld after the clone; in tests the launcher).
mysqld itself is reached over SQL through ``moco.mysql``.

Every method is async and may raise; the loop bounds each call with a timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from moco.clustering.types import ClusterSpecView, PodInfo
from moco.mysql.conn import ServerTrust

EventType = Literal["Normal", "Warning"]

# Event reasons: MOCO's own (its pkg/event) where MOCO has the event, so alerts written for
# MOCO match; the others are ours.
EV_SET_WRITABLE: Final = "Writable"
EV_CLONE_SUCCEEDED: Final = "Cloned"
EV_CLONE_FAILED: Final = "CloneFailed"
EV_INIT_CLONE_SUCCEEDED: Final = "InitCloned"
EV_INIT_CLONE_FAILED: Final = "InitCloneFailed"
EV_SWITCHOVER_SUCCEEDED: Final = "SwitchOver"
EV_SWITCHOVER_FAILED: Final = "SwitchOverFailed"
EV_FAILOVER_SUCCEEDED: Final = "FailOver"
EV_FAILOVER_FAILED: Final = "FailOverFailed"
EV_ERRANT_FENCED: Final = "ErrantReplicaFenced"
EV_REPLICA_UNRECOVERABLE: Final = "ReplicaUnrecoverable"
EV_STATE_CHANGED: Final = "StateChanged"
EV_CLUSTERING_STOPPED: Final = "ClusteringStopped"

# Condition types of MySQLCluster.status.
COND_INITIALIZED: Final = "Initialized"
COND_AVAILABLE: Final = "Available"
COND_HEALTHY: Final = "Healthy"
COND_CLUSTERING_ACTIVE: Final = "ClusteringActive"


@dataclass(frozen=True)
class Credentials:
    """Passwords of MOCO's users, from the cluster's controller-owned Secret, and the CA the
    operator verifies the cluster's mysqld with."""

    admin: str = field(repr=False)
    replication: str = field(repr=False)
    clone_donor: str = field(repr=False)
    #: the trust bundle of moco's CA (None: connections are not verified; tests without TLS)
    trust: ServerTrust | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ReplicationSource:
    """The external source of ``replicationSourceSecretName`` (MOCO's keys)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    clone_user: str = ""
    clone_password: str = field(default="", repr=False)
    init_after_clone_user: str = ""
    init_after_clone_password: str = field(default="", repr=False)


@dataclass(frozen=True)
class CloneRequest:
    """Clone a mysqld from a donor, then re-create the operator's users as ``init_user``."""

    donor_host: str
    donor_port: int
    user: str
    password: str = field(repr=False)
    init_user: str = ""
    init_password: str = field(default="", repr=False)
    #: How long the recipient's mysqld may take to answer after the clone's restart (default
    #: 10 minutes, the agent's ``boot_timeout_s``). Not a bound on the clone itself: a clone is
    #: bounded by its progress (see :class:`CloneAgent`), as one of a large instance may take
    #: hours. :class:`moco.controllers.kubeside.AgentCloneAgent` takes both bounds from its
    #: own configuration and ignores this field.
    timeout: float = 600.0


@dataclass(frozen=True)
class Condition:
    """One status condition (``status`` True/False)."""

    type: str
    status: bool
    reason: str
    message: str = ""


@dataclass(frozen=True)
class NextOperation:
    """``status.clustering.nextOperation*``: what the last pass decided to do, and why."""

    #: MOCO-style capitalised name: None, Configure, Switchover, Failover, Clone.
    operation: str
    target: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class PrimaryChange:
    """``status.clustering.lastPrimaryChange``: a switchover or failover that succeeded."""

    operation: Literal["Switchover", "Failover"]
    #: RFC 3339, UTC: when the new primary became writable.
    time: str
    from_index: int
    to_index: int
    write_unavailable_s: float
    reason: str = ""


@dataclass(frozen=True)
class StatusUpdate:
    """Fields of MySQLCluster.status the loop owns; None leaves a field as it is."""

    conditions: tuple[Condition, ...] = ()
    current_primary_index: int | None = None
    synced_replicas: int | None = None
    errant_replicas: int | None = None
    errant_replica_list: tuple[int, ...] | None = None
    cloned: bool | None = None
    next_operation: NextOperation | None = None
    last_primary_change: PrimaryChange | None = None


class KubeSide(Protocol):
    """What the loop needs of Kubernetes for ONE MySQLCluster."""

    async def get_cluster(self, *, fresh: bool = False) -> ClusterSpecView | None:
        """The cluster (None when it is gone): from a cache that may lag behind the API server,
        or with ``fresh`` read from the API server itself."""
        ...

    async def list_pods(self) -> Sequence[PodInfo]:
        """The cluster's mysqld Pods (any order; missing ones are simply absent)."""
        ...

    async def get_credentials(self) -> Credentials:
        """Passwords of the operator's MySQL users."""
        ...

    async def get_replication_source(self, secret_name: str) -> ReplicationSource:
        """The external source named by ``replicationSourceSecretName``."""
        ...

    async def set_role_label(self, pod: str, role: str | None) -> None:
        """Set (or, with None, remove) the ``moco.cybozu.com/role`` label of a Pod."""
        ...

    async def route_primary(self, pod: str) -> None:
        """Route the primary Service to this Pod, the chosen primary (its index already written
        as ``currentPrimaryIndex``), in one update; a no-op when it routes there (the Service
        has no selector: :mod:`moco.controllers.primaryslice`)."""
        ...

    async def remove_demote_annotation(self, pod: str) -> None:
        """Remove ``moco.cybozu.com/demote`` from a Pod."""
        ...

    async def set_prevent_delete(self, pod: str, on: bool) -> None:
        """Set (or remove) ``moco.cybozu.com/prevent-delete: "true"`` on a Pod; a Pod gone is no error."""
        ...

    async def update_status(self, update: StatusUpdate) -> None:
        """Merge the fields into MySQLCluster.status (retrying on conflict)."""
        ...

    async def record_event(self, type: EventType, reason: str, message: str) -> None:
        """Record an Event on the MySQLCluster."""
        ...


class CloneAgent(Protocol):
    """Runs a clone on the recipient's side and brings its mysqld back."""

    async def clone(self, pod: PodInfo, request: CloneRequest) -> None:
        """Clone into ``pod``'s mysqld; returns when it answers again.

        Bounded by progress, never by the clone's total time: it fails when the clone makes no
        progress for a while (the agent's ``stall_timeout_s``) or the restarted mysqld does not
        answer in time; the loop adds no total bound around it.
        """
        ...
