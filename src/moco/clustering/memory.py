"""An in-memory :class:`~moco.clustering.interfaces.KubeSide`, and a clone agent over SQL.

:class:`MemoryKube` holds one cluster's spec, Pods, credentials, status and Events in plain
Python objects. Tests, the benchmark and the e2e-less mysql tier drive the real clustering loop
through it: they flip a Pod's readiness, mark it deleting or demoted, and read back the status
and Events the loop wrote, exactly as the controller's informer-backed side would see them.

:class:`SQLCloneAgent` clones by running ``CLONE INSTANCE FROM`` on the recipient over SQL
(:func:`moco.mysql.clone.clone_instance`, as the agent does); the recipient's mysqld must be
restarted after the clone (by the launcher of the test ground here, by kubelet in a Pod).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from moco import constants
from moco.clustering.config import ProcessConfig
from moco.clustering.gather import admin_endpoint
from moco.clustering.interfaces import (
    CloneRequest,
    Condition,
    Credentials,
    EventType,
    NextOperation,
    PrimaryChange,
    ReplicationSource,
    StatusUpdate,
)
from moco.clustering.process import ClusterProcess
from moco.clustering.types import ClusterSpecView, ClusterState, Operation, PodInfo
from moco.mysql import ops
from moco.mysql.clone import CloneBounds, Donor, clone_instance
from moco.mysql.conn import Endpoint, connect


@dataclass
class MemoryStatus:
    """MySQLCluster.status as the loop wrote it."""

    conditions: dict[str, Condition] = field(default_factory=dict)
    current_primary_index: int = 0
    synced_replicas: int = 0
    errant_replicas: int = 0
    errant_replica_list: tuple[int, ...] = ()
    cloned: bool = False
    next_operation: NextOperation | None = None
    last_primary_change: PrimaryChange | None = None
    updates: int = 0


class MemoryKube:
    """One MySQLCluster and its Pods, in memory."""

    def __init__(
        self,
        cluster: ClusterSpecView,
        pods: Sequence[PodInfo],
        creds: Credentials,
        sources: dict[str, ReplicationSource] | None = None,
    ) -> None:
        self.spec = cluster
        self.pods: dict[str, PodInfo] = {p.name: p for p in pods}
        self.creds = creds
        self.sources = dict(sources or {})
        self.status = MemoryStatus(current_primary_index=cluster.current_primary_index)
        self.events: list[tuple[EventType, str, str]] = []
        #: each ``route_primary``: the Pod routed to, and ``currentPrimaryIndex`` at that moment
        self.routed: list[tuple[str, int]] = []
        self.gone = False
        #: ``get_cluster`` answers with the status as it was this many seconds ago (an informer
        #: cache that lags behind the API server); 0 = always current.
        self.view_lag = 0.0
        self._history: list[tuple[float, ClusterSpecView]] = []

    # --- KubeSide ---------------------------------------------------------------------------------
    async def get_cluster(self, *, fresh: bool = False) -> ClusterSpecView | None:
        if self.gone:
            return None
        now = self._current()
        if fresh or self.view_lag <= 0:
            return now
        cutoff = time.monotonic() - self.view_lag
        seen = now
        for at, view in reversed(self._history):
            if at <= cutoff:
                break
            seen = view  # the view before a write newer than the lag
        return seen

    def _current(self) -> ClusterSpecView:
        return replace(
            self.spec,
            current_primary_index=self.status.current_primary_index,
            errant_replica_list=self.status.errant_replica_list,
            cloned=self.status.cloned,
        )

    async def list_pods(self) -> Sequence[PodInfo]:
        return list(self.pods.values())

    async def get_credentials(self) -> Credentials:
        return self.creds

    async def get_replication_source(self, secret_name: str) -> ReplicationSource:
        return self.sources[secret_name]

    async def set_role_label(self, pod: str, role: str | None) -> None:
        if pod in self.pods:
            self.pods[pod] = replace(self.pods[pod], role=role)

    async def route_primary(self, pod: str) -> None:
        self.routed.append((pod, self.status.current_primary_index))

    async def remove_demote_annotation(self, pod: str) -> None:
        if pod in self.pods:
            self.pods[pod] = replace(self.pods[pod], demote=False)

    async def set_prevent_delete(self, pod: str, on: bool) -> None:
        if pod in self.pods:
            self.pods[pod] = replace(self.pods[pod], prevent_delete=on)

    async def update_status(self, update: StatusUpdate) -> None:
        self._history.append((time.monotonic(), self._current()))
        del self._history[:-100]
        st = self.status
        for c in update.conditions:
            st.conditions[c.type] = c
        if update.current_primary_index is not None:
            st.current_primary_index = update.current_primary_index
        if update.synced_replicas is not None:
            st.synced_replicas = update.synced_replicas
        if update.errant_replicas is not None:
            st.errant_replicas = update.errant_replicas
        if update.errant_replica_list is not None:
            st.errant_replica_list = update.errant_replica_list
        if update.cloned is not None:
            st.cloned = update.cloned
        if update.next_operation is not None:
            st.next_operation = update.next_operation
        if update.last_primary_change is not None:
            st.last_primary_change = update.last_primary_change
        st.updates += 1

    async def record_event(self, type: EventType, reason: str, message: str) -> None:
        self.events.append((type, reason, message))

    # --- what a test does to the world --------------------------------------------------------------
    def pod(self, index: int) -> PodInfo:
        """The Pod of an ordinal."""
        for p in self.pods.values():
            if p.index == index:
                return p
        raise KeyError(index)

    def set_pod(self, index: int, **changes: object) -> None:
        """Change a Pod (ready, deleting, demote, ...)."""
        p = self.pod(index)
        self.pods[p.name] = replace(p, **changes)  # type: ignore[arg-type]

    def stop_mysqld_container(self, index: int) -> None:
        """The Pod's mysqld container exited (kubelet has not restarted it yet)."""
        self.set_pod(index, mysqld_running=False, ready=False)

    def restart_mysqld_container(self, index: int) -> None:
        """kubelet started the Pod's mysqld container again: its restartCount goes up."""
        p = self.pod(index)
        self.set_pod(index, mysqld_running=True, mysqld_restarts=p.mysqld_restarts + 1)

    def remove_pod(self, index: int) -> PodInfo:
        """Delete a Pod object; returns it so a test can put it back."""
        p = self.pod(index)
        del self.pods[p.name]
        return p

    def add_pod(self, pod: PodInfo) -> None:
        """Create (or replace) a Pod object."""
        self.pods[pod.name] = pod

    def set_spec(self, **changes: object) -> None:
        """Change the cluster's spec (e.g. clustering_stopped, replication_source_secret)."""
        self.spec = replace(self.spec, **changes)  # type: ignore[arg-type]

    def condition(self, type_: str) -> Condition | None:
        """A status condition, if written."""
        return self.status.conditions.get(type_)

    def is_true(self, type_: str) -> bool:
        """The condition is written and true."""
        c = self.status.conditions.get(type_)
        return c is not None and c.status

    def reasons(self) -> list[str]:
        """Reasons of the Events recorded so far, in order."""
        return [r for _, r, _ in self.events]


class SQLCloneAgent:
    """Clones into a Pod's mysqld over SQL, as the admin user of ``creds``."""

    def __init__(self, creds: Credentials, connect_timeout: float = 5.0) -> None:
        self.creds = creds
        self.connect_timeout = connect_timeout
        self.clones = 0

    async def clone(self, pod: PodInfo, request: CloneRequest) -> None:
        donor = Donor(request.donor_host, request.donor_port, request.user, request.password)
        await clone_instance(
            admin_endpoint(pod, self.creds), donor, bounds=CloneBounds(boot_timeout=request.timeout)
        )
        self.clones += 1


# --- driving a real loop against real mysqld without Kubernetes ---------------------------------------
class Address(Protocol):
    """Where a mysqld listens (the test ground's instances have these attributes)."""

    host: str
    port: int
    admin_port: int


def make_pods(cluster: str, addrs: Sequence[Address], *, tls_ca_file: str = "") -> list[PodInfo]:
    """One ready Pod per mysqld, ordinal = position. With ``tls_ca_file`` every mysqld serves a
    certificate of that CA naming its address (what moco's certificate is to a Pod's name)."""
    return [
        PodInfo(
            name=f"moco-{cluster}-{i}",
            index=i,
            host=a.host,
            port=a.port,
            admin_port=a.admin_port,
            uid=f"uid-{cluster}-{i}",
            tls_name=a.host if tls_ca_file else "",
            tls_ca_file=tls_ca_file,
        )
        for i, a in enumerate(addrs)
    ]


async def bootstrap_users(
    admin: Endpoint, creds: Credentials, extra: Sequence[tuple[str, str, str]] = ()
) -> None:
    """Create MOCO's replication and clone-donor users (and ``extra`` (user, password, grant))
    without writing a GTID, and install the plugins: what the agent does in a Pod.

    The admin user must already exist. super_read_only is lifted only for the statements.
    """
    async with await connect(admin, timeout=5.0) as c:
        await ops.install_plugins(c)
        await c.execute("SET GLOBAL super_read_only = OFF")
        try:
            await c.execute("SET SESSION sql_log_bin = 0")
            users = [
                (
                    constants.REPLICATION_USER,
                    creds.replication,
                    "REPLICATION SLAVE, REPLICATION CLIENT ON *.*",
                ),
                (
                    constants.CLONE_DONOR_USER,
                    creds.clone_donor,
                    "BACKUP_ADMIN, SERVICE_CONNECTION_ADMIN ON *.*",
                ),
                *extra,
            ]
            for user, password, grant in users:
                await c.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
                await c.execute(f"GRANT {grant} TO %s@'%%'", (user,))
        finally:
            await ops.set_read_only(c)


class LoopHarness:
    """A :class:`ClusterProcess` over a :class:`MemoryKube` for mysqlds at ``addrs``."""

    def __init__(
        self,
        name: str,
        addrs: Sequence[Address],
        creds: Credentials,
        cfg: ProcessConfig,
        *,
        server_id_base: int = 1,
        sources: dict[str, ReplicationSource] | None = None,
        tls_ca_file: str = "",
        **spec: Any,
    ) -> None:
        cluster = ClusterSpecView(
            name=name, namespace="default", replicas=len(addrs), server_id_base=server_id_base, **spec
        )
        self.kube = MemoryKube(cluster, make_pods(name, addrs, tls_ca_file=tls_ca_file), creds, sources)
        self.agent = SQLCloneAgent(creds)
        self.proc = ClusterProcess("default", name, self.kube, self.agent, cfg)

    def start(self) -> None:
        """Start the loop task."""
        self.proc.start()

    async def stop(self) -> None:
        """Stop the loop task; the cluster's metrics go with it (as when a cluster is deleted)."""
        await self.proc.stop()
        self.proc.metrics.remove()

    @property
    def primary(self) -> int:
        """The current primary index as the status says."""
        return self.kube.status.current_primary_index

    @property
    def state(self) -> ClusterState | None:
        """The state the last pass decided."""
        d = self.proc.last.decision
        return d.state if d is not None else None

    async def wait_for(self, pred: Callable[[], bool], timeout: float, what: str = "condition") -> float:  # noqa: ASYNC109
        """Poll ``pred`` every 20 ms; returns the seconds waited, raises TimeoutError with context."""
        start = time.monotonic()
        while not pred():
            if time.monotonic() - start > timeout:
                d = self.proc.last.decision
                raise TimeoutError(
                    f"{what} not reached in {timeout}s: state={d.state if d else None} "
                    f"op={d.operation if d else None} error={self.proc.last.error!r} "
                    f"errant={list(self.kube.status.errant_replica_list)} events={self.kube.reasons()}"
                )
            await asyncio.sleep(0.02)
        return time.monotonic() - start

    def healthy_after(self, after: int) -> bool:
        """A pass numbered above ``after`` found the cluster Healthy with nothing to do."""
        d = self.proc.last.decision
        return (
            d is not None
            and self.proc.last.decision_pass > after
            and d.state is ClusterState.HEALTHY
            and d.operation is Operation.NONE
        )

    async def wait_healthy(self, timeout: float = 60.0) -> float:  # noqa: ASYNC109
        """Until a pass that starts after this call finds the cluster Healthy with nothing to do."""
        after = self.proc.last.passes
        return await self.wait_for(
            lambda: self.healthy_after(after),
            timeout,
            "Healthy",
        )
