"""The frozen values the clustering loop reasons about.

Everything here is plain data: a view of the MySQLCluster (:class:`ClusterSpecView`), of each
Pod (:class:`PodInfo`), of each mysqld (:class:`InstanceView`), and what one pass of the loop
saw (:class:`StatusSet`). The controller fills :class:`ClusterSpecView` from the API model and
:class:`PodInfo` from its Pod cache; the loop fills :class:`InstanceView` from SQL. No I/O and no
dependency on Kubernetes or on the MySQL driver, so the decision functions over them are pure
and tested by tables.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from moco import constants


class ClusterState(enum.Enum):
    """MOCO's cluster states; the value is what the Healthy condition's reason says."""

    OFFLINE = "Offline"
    CLONING = "Cloning"
    RESTORING = "Restoring"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    LOST = "Lost"
    INCOMPLETE = "Incomplete"


class Operation(enum.Enum):
    """What one pass of the loop does after deciding the state."""

    NONE = "none"
    CONFIGURE = "configure"
    SWITCHOVER = "switchover"
    FAILOVER = "failover"
    CLONE = "clone"  # the initial clone of the primary from the external source


@dataclass(frozen=True)
class ClusterSpecView:
    """What the loop needs of a MySQLCluster (spec and the status fields it owns)."""

    name: str
    namespace: str
    replicas: int
    current_primary_index: int = 0
    max_delay_seconds: int = 60
    #: ``spec.maxDelaySecondsForPodDeletion`` (0: the primary's Pod is never protected).
    max_delay_seconds_for_pod_deletion: int = 0
    #: ``spec.replicationSourceSecretName``: the primary follows an external source.
    replication_source_secret: str | None = None
    clustering_stopped: bool = False
    offline: bool = False
    server_id_base: int = 1
    #: ``spec.restore`` is set and ``status.restoredTime`` is not.
    restoring: bool = False
    #: ``status.cloned``: the initial clone from the external source completed.
    cloned: bool = False
    #: ``status.errantReplicaList``: remembered while the primary cannot be asked.
    errant_replica_list: tuple[int, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """``(namespace, name)``: the registry key."""
        return (self.namespace, self.name)


@dataclass(frozen=True)
class PodInfo:
    """One mysqld Pod as the loop sees it."""

    name: str
    index: int
    #: the Pod IP; "" while the Pod has none (nothing is connected to then)
    host: str
    port: int = constants.MYSQL_PORT
    #: Where the clone donor is reached (MOCO uses the admin port).
    admin_port: int = constants.MYSQL_ADMIN_PORT
    ready: bool = True
    deleting: bool = False
    demote: bool = False
    #: ``moco.cybozu.com/prevent-delete: "true"`` (see :mod:`moco.clustering.preventdelete`).
    prevent_delete: bool = False
    role: str | None = None
    #: ``metadata.uid``: a re-created Pod (offline->online, a rolling update) is another Pod.
    uid: str = ""
    #: ``restartCount`` of the ``mysqld`` container: kubelet restarted it after it exited.
    mysqld_restarts: int = 0
    #: The ``mysqld`` container is running (False while it is terminated or waiting).
    mysqld_running: bool = True
    #: The name the operator checks the certificate of this Pod's mysqld for (its DNS name, never
    #: resolved), when it serves moco's certificate (the Pod mounts it: reconcile version 3);
    #: empty otherwise (see :mod:`moco.clustering.sourcetls`).
    tls_name: str = ""
    #: Where this Pod's mysqld finds the cluster's CA (its mounted ``ca.crt``; with ``tls_name``):
    #: what it verifies its source with as a replica.
    tls_ca_file: str = ""


@dataclass(frozen=True)
class ReplicaView:
    """``SHOW REPLICA STATUS`` of one mysqld, reduced to what decisions use."""

    source_host: str
    source_port: int
    io_running: bool
    sql_running: bool
    retrieved_gtid: str = ""
    lag_seconds: int | None = 0
    last_io_errno: int = 0
    #: the connection to the source must be encrypted (as moco configures replicas; one set up
    #: otherwise, by an older moco, is pointed again)
    tls: bool = True
    #: the replica verifies its source: its certificate must chain to ``ca_file`` and name the
    #: source host (``SOURCE_SSL_VERIFY_SERVER_CERT``; see :mod:`moco.clustering.sourcetls`)
    verified: bool = False
    #: ``Source_SSL_CA_File``
    ca_file: str = ""
    #: the IO thread is connecting to its source (``Replica_IO_Running: Connecting``); with no
    #: ``last_io_errno`` it is its first try since START REPLICA, not a retry after a failure.
    io_connecting: bool = False


@dataclass(frozen=True)
class InstanceView:
    """The state of one mysqld."""

    server_uuid: str
    executed_gtid: str = ""
    purged_gtid: str = ""
    read_only: bool = True
    super_read_only: bool = True
    semisync_source_enabled: bool = False
    semisync_wait_count: int = 1
    #: ``rpl_semi_sync_source_wait_no_replica`` (see ``InstanceStatus``): must be on on a primary.
    semisync_wait_no_replica: bool = True
    semisync_replica_enabled: bool = False
    replica: ReplicaView | None = None
    #: server_id of every replica connected to this instance (``SHOW REPLICAS``).
    replica_server_ids: tuple[int, ...] = ()
    #: ``performance_schema.clone_status`` state, None when no clone ever ran.
    clone_state: str | None = None


@dataclass(frozen=True)
class StatusSet:
    """What one pass saw: the cluster, its Pods and mysqlds by index (None = missing/unreachable)."""

    cluster: ClusterSpecView
    pods: tuple[PodInfo | None, ...]
    instances: tuple[InstanceView | None, ...]
    #: Indices of replicas holding errant transactions.
    errants: frozenset[int] = field(default_factory=frozenset)
    #: Indices of instances that answered but whose status could not be read completely
    #: (None in ``instances``, yet no evidence that they are gone).
    unreadable: frozenset[int] = field(default_factory=frozenset)
    #: Indices of instances that did not answer because every try was refused: the Pod's
    #: network answered that nothing listens on mysqld's port (mysqld is not running).
    refused: frozenset[int] = field(default_factory=frozenset)
    #: The primary failed enough tries over a long enough time to count as gone (the loop
    #: decides this with :mod:`moco.clustering.evidence`).
    primary_down_confirmed: bool = False
    #: The primary's mysqld container restarted (or is not running) since the loop last saw
    #: the primary writable in the same Pod (same uid), and the primary is unreachable or not
    #: writable now: it crashed, and what answers now is no longer the primary (the loop
    #: decides this; a missing, deleting or re-created Pod or a not-ready Pod is never such
    #: evidence).
    primary_crashed: bool = False

    @property
    def primary(self) -> int:
        """Index of the current primary."""
        return self.cluster.current_primary_index

    @property
    def primary_gtid(self) -> str:
        """The primary's ``gtid_executed``, ``""`` when it cannot be asked."""
        pst = self.instances[self.primary]
        return pst.executed_gtid if pst is not None else ""


@dataclass(frozen=True)
class Decision:
    """The state and the one operation to apply."""

    state: ClusterState
    operation: Operation
    #: Healthy replicas that could take over on a switchover (lowest first).
    candidates: tuple[int, ...] = ()
    #: The switchover target, if any.
    candidate: int | None = None
    reason: str = ""
