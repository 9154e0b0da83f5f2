"""The clustering loop's Kubernetes side (:class:`moco.clustering.interfaces.KubeSide`) over moco.kube.

One :class:`ClusterKubeSide` per MySQLCluster reads its Pods and the cluster itself from the
informer caches (a cached cluster may still hold the status from before the loop's own
switchover: see :meth:`ClusterKubeSide.get_cluster` for why that is safe), and writes Pod
labels, annotations, the primary Service's EndpointSlice
(:class:`moco.controllers.primaryslice.PrimarySlices`), the loop's status fields and Events
through the API with timeouts.

Secrets are read from caches too, with a GET only on a miss: the controller Secret from the
informer on moco's labelled Secrets (see :mod:`moco.controllers.setup`), the user's
replication-source Secret from a :class:`SecretCache` (a GET at most every ``ttl`` s per
Secret). A GET per pass would spend the client's shared rate limit: 600 clusters every 30 s
are 20 requests a second, the whole budget. The replication-source Secret holds MOCO's keys
(:data:`moco.constants.SOURCE_KEYS`, :func:`parse_source_secret`); when one is missing the
cluster's status says which (condition :data:`COND_SOURCE_SECRET`), an Event says it once, and
nothing is cloned.

:class:`AgentCloneAgent` asks the agent sidecar of the recipient Pod to clone through the agent
API's client and follows the clone by its progress. :func:`pod_info`, :func:`spec_view` and
:func:`parse_source_secret` are the pure conversions.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from moco import constants
from moco.agentapi import (
    AgentAPIError,
    AgentClient,
    AgentRefused,
    AgentUnreachable,
    CloneProgress,
    CloneState,
)
from moco.agentapi import CloneRequest as WireCloneRequest
from moco.agentapi.tls import agent_server_name
from moco.api import MySQLCluster
from moco.clustering.errors import GatherError
from moco.clustering.interfaces import (
    CloneRequest,
    Condition,
    Credentials,
    EventType,
    ReplicationSource,
    StatusUpdate,
)
from moco.clustering.sourcetls import POD_CA_FILE
from moco.clustering.types import ClusterSpecView, PodInfo
from moco.controllers import secrets as sec
from moco.controllers import status as st
from moco.controllers.errors import ControllerError
from moco.controllers.mysqlcert import pod_tls_name
from moco.controllers.primaryslice import PrimarySlices
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube import errors as kerr
from moco.kube.client import Client
from moco.kube.errors import NotFound
from moco.kube.events import EventRecorder
from moco.kube.resource import PODS, SECRETS
from moco.kube.store import Obj, Store
from moco.log import get_logger
from moco.mysql.conn import ServerTrust

log = get_logger("moco.controllers.kubeside")


def spec_view(cluster: MySQLCluster) -> ClusterSpecView:
    s, status = cluster.spec, cluster.status
    anns = cluster.metadata.get("annotations") or {}
    return ClusterSpecView(
        name=cluster.name,
        namespace=cluster.namespace,
        replicas=s.replicas or 1,
        current_primary_index=status.current_primary_index if status else 0,
        max_delay_seconds=s.max_delay_seconds if s.max_delay_seconds is not None else 60,
        max_delay_seconds_for_pod_deletion=s.max_delay_seconds_for_pod_deletion or 0,
        replication_source_secret=s.replication_source_secret_name,
        clustering_stopped=anns.get(constants.ANN_CLUSTERING_STOPPED) == "true",
        offline=bool(s.offline),
        server_id_base=s.server_id_base or 1,
        restoring=s.restore is not None and not (status and status.restored_time),
        cloned=bool(status and status.cloned),
        errant_replica_list=tuple((status.errant_replica_list or []) if status else []),
    )


def _ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def pod_info(pod: Obj, cluster_name: str) -> PodInfo | None:
    """The loop's view of a Pod (None for a Pod that is not one of the cluster's mysqld)."""
    meta = pod.get("metadata") or {}
    name = str(meta.get("name", ""))
    prefix = f"moco-{cluster_name}-"
    if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
        return None
    # No Pod IP yet: no address, and no DNS name instead. Nothing listens there yet, and a look-up
    # of the Pod's name before its record exists is cached as "no such name" by the cluster's
    # DNS (CoreDNS: up to 30 s), so the replicas, which name their source by it, could not
    # resolve it for that long once it started (measured: a new cluster Healthy 20 s later).
    host = str((pod.get("status") or {}).get("podIP") or "")
    labels = meta.get("labels") or {}
    anns = meta.get("annotations") or {}
    # the mysqld container's restarts and state: a crash of the primary's mysqld is evidence
    # for a failover (see moco.clustering.process); no status yet = not running, no restart
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    mysqld: Obj = next((c for c in statuses if c.get("name") == constants.MYSQLD_CONTAINER), {})
    # a Pod that mounts moco's certificate serves it for its DNS name (moco.clustering.sourcetls)
    tls_name = pod_tls_name(pod, cluster_name)
    return PodInfo(
        name=name,
        index=int(name[len(prefix) :]),
        host=host,
        ready=_ready(pod),
        deleting=bool(meta.get("deletionTimestamp")),
        demote=anns.get(constants.ANN_DEMOTE) == "true",
        prevent_delete=anns.get(constants.ANN_PREVENT_DELETE) == "true",
        role=labels.get(constants.LABEL_ROLE),
        uid=str(meta.get("uid") or ""),
        mysqld_restarts=int(mysqld.get("restartCount") or 0),
        mysqld_running=bool((mysqld.get("state") or {}).get("running")),
        tls_name=tls_name,
        tls_ca_file=POD_CA_FILE if tls_name else "",
    )


def _decode(secret: Obj, key: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    return base64.b64decode(raw).decode() if raw else ""


#: Condition of MySQLCluster.status: is the replication-source Secret usable (clusters with one).
COND_SOURCE_SECRET: Final = "ReplicationSourceSecretValid"
#: Event reason when it is not.
EV_SOURCE_SECRET_INVALID: Final = "ReplicationSourceSecretInvalid"
#: Keys whose value may not be empty (passwords may).
_NON_EMPTY: Final = frozenset(
    {
        constants.SOURCE_HOST_KEY,
        constants.SOURCE_PORT_KEY,
        constants.SOURCE_USER_KEY,
        constants.SOURCE_INIT_USER_KEY,
    }
)


@dataclass(frozen=True)
class SourceProblem:
    """Why a replication-source Secret cannot be used (``reason`` is the condition's reason)."""

    reason: str
    message: str


class ReplicationSourceInvalid(GatherError):
    """The replication-source Secret is missing or lacks a key: nothing is cloned or replicated."""


def parse_source_secret(secret: Obj, where: str) -> ReplicationSource | SourceProblem:
    """The external source of a Secret with MOCO's keys, or what is wrong with it (pure).

    ``USER``/``PASSWORD`` both clone from the source and replicate from it (as in MOCO);
    ``INIT_USER``/``INIT_PASSWORD`` initialise the instance after the clone.
    """
    data = secret.get("data") or {}
    missing = [
        k for k in constants.SOURCE_KEYS if k not in data or (k in _NON_EMPTY and not _decode(secret, k))
    ]
    if missing:
        return SourceProblem(
            "KeyMissing",
            f"Secret {where} has no {', '.join(missing)} (it needs {', '.join(constants.SOURCE_KEYS)})",
        )
    port = _decode(secret, constants.SOURCE_PORT_KEY).strip()
    if not port.isdigit() or not 0 < int(port) < 65536:
        return SourceProblem(
            "InvalidPort", f"Secret {where}: {constants.SOURCE_PORT_KEY} is not a port number"
        )
    user, password = (
        _decode(secret, constants.SOURCE_USER_KEY),
        _decode(secret, constants.SOURCE_PASSWORD_KEY),
    )
    return ReplicationSource(
        host=_decode(secret, constants.SOURCE_HOST_KEY).strip(),
        port=int(port),
        user=user,
        password=password,
        clone_user=user,
        clone_password=password,
        init_after_clone_user=_decode(secret, constants.SOURCE_INIT_USER_KEY),
        init_after_clone_password=_decode(secret, constants.SOURCE_INIT_PASSWORD_KEY),
    )


class SecretCache:
    """Secrets read with a GET and kept for ``ttl`` seconds, shared by every cluster's side.

    For Secrets no informer caches (the user's replication-source Secret carries no moco label,
    and watching every Secret of the cluster would cache them all). ``ttl`` (default 60 s) is
    how late a change of the Secret may be seen; a Secret that does not exist is not cached.
    """

    def __init__(self, client: Client, *, ttl: float = 60.0, timeout: float = 10.0) -> None:
        self.client = client
        self.ttl = ttl
        self.timeout = timeout
        self._entries: dict[tuple[str, str], tuple[float, Obj]] = {}

    async def get(self, namespace: str, name: str) -> Obj:
        """The Secret (from the cache when fresh); raises the client's NotFound when absent."""
        now = time.monotonic()
        hit = self._entries.get((namespace, name))
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        obj = await self.client.get(SECRETS, name, namespace, request_timeout=self.timeout)
        self._entries[(namespace, name)] = (now, obj)
        return obj

    def forget(self, namespace: str, name: str) -> None:
        """Drop one entry (the next :meth:`get` reads the API)."""
        self._entries.pop((namespace, name), None)


class ClusterKubeSide:
    """KubeSide of one cluster (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        clusters: Store,
        pods: Store,
        namespace: str,
        name: str,
        system_namespace: str,
        *,
        timeout: float = 10.0,
        recorder: EventRecorder | None = None,
        secrets: Store | None = None,
        source_secrets: SecretCache | None = None,
        trust: Callable[[], Awaitable[ServerTrust]] | None = None,
        primary_slices: PrimarySlices | None = None,
    ) -> None:
        self.client = client
        #: writes the primary Service's EndpointSlice (by default over the Pod cache, the rest GET)
        self.primary_slices = primary_slices or PrimarySlices(
            client, pods=pods, clusters=clusters, timeout=timeout
        )
        #: the CA mysqld's certificates are verified with
        #: (:meth:`moco.controllers.certs.AgentCertificates.mysql_trust`); None: not verified
        self.trust = trust
        self.clusters = clusters
        self.pods = pods
        #: moco's labelled Secrets (the controller Secret is looked up here first).
        self.secrets = secrets
        self.source_secrets = source_secrets or SecretCache(client, timeout=timeout)
        self._source_verdict: Condition | None = None
        self.namespace = namespace
        self.name = name
        self.system_namespace = system_namespace
        self.timeout = timeout
        self.recorder = recorder or EventRecorder(client, "moco-controller")

    async def get_cluster(self, *, fresh: bool = False) -> ClusterSpecView | None:
        """The cluster from the informer cache (a GET when the cache does not hold it), or with
        ``fresh`` from the API server.

        A cached view may lag behind: it may still carry the status from before the loop's own
        switchover or failover, or miss a write of another controller process, and a pass that
        acted on an old ``currentPrimaryIndex`` would make the old primary writable again. The
        loop therefore reads the view fresh on its first pass and again before any operation
        it decided on a cached view, and it remembers the index it wrote until the view shows
        it (``ClusterProcess._pass``, ``_fresh_cluster``; ``make soak`` runs it against views
        up to 3 s old). Routine passes read the cache: a GET per pass (what MOCO does) costs the
        shared client rate limit one request per cluster per pass, and 1,000 clusters every
        30 s are 33 requests a second, more than the 20 allowed (MOCO #517).
        """
        obj = None if fresh else self.clusters.get(f"{self.namespace}/{self.name}")
        if obj is None:
            try:
                obj = await self.client.get(
                    MYSQLCLUSTERS, self.name, self.namespace, request_timeout=self.timeout
                )
            except NotFound:
                return None
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            return None
        return spec_view(MySQLCluster.parse(obj))

    async def list_pods(self) -> Sequence[PodInfo]:
        out = []
        for pod in self.pods.list(self.namespace):
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if labels.get(constants.LABEL_APP_INSTANCE) != self.name:
                continue
            info = pod_info(pod, self.name)
            if info is not None:
                out.append(info)
        return out

    async def _secret(self, name: str, namespace: str) -> Obj:
        return await self.client.get(SECRETS, name, namespace, request_timeout=self.timeout)

    async def _controller_secret(self) -> Obj:
        name = f"mysql-{self.namespace}.{self.name}"
        if self.secrets is not None:
            cached = self.secrets.get(f"{self.system_namespace}/{name}")
            if cached is not None:
                return cached
        try:
            return await self._secret(name, self.system_namespace)
        except NotFound as e:
            # a new cluster's loop starts before its first reconcile created the Secret (it is
            # started first on purpose, see the reconciler): an expected wait, not a fault
            raise GatherError(
                f"the controller Secret {self.system_namespace}/{name} does not exist yet"
                " (the MySQLCluster's reconcile creates it)"
            ) from e

    async def get_credentials(self) -> Credentials:
        secret = await self._controller_secret()
        pw = sec.Passwords.from_secret(secret)
        return Credentials(
            admin=pw.password(constants.ADMIN_USER),
            replication=pw.password(constants.REPLICATION_USER),
            clone_donor=pw.password(constants.CLONE_DONOR_USER),
            trust=None if self.trust is None else await self.trust(),
        )

    async def agent_token(self) -> str:
        return sec.Passwords.from_secret(await self._controller_secret()).token

    async def get_replication_source(self, secret_name: str) -> ReplicationSource:
        """The external source; raises :class:`ReplicationSourceInvalid` (after saying why in
        the status and, once per problem, in an Event) when the Secret cannot be used."""
        where = f"{self.namespace}/{secret_name}"
        try:
            secret = await self.source_secrets.get(self.namespace, secret_name)
            parsed = parse_source_secret(secret, where)
        except kerr.NotFound:
            parsed = SourceProblem(
                "SecretNotFound", f"Secret {where} (spec.replicationSourceSecretName) not found"
            )
        if isinstance(parsed, SourceProblem):
            verdict = Condition(COND_SOURCE_SECRET, False, parsed.reason, parsed.message)
        else:
            verdict = Condition(COND_SOURCE_SECRET, True, "Valid", f"Secret {where} holds every key")
        if verdict != self._source_verdict:
            if isinstance(parsed, SourceProblem):
                await self.record_event("Warning", EV_SOURCE_SECRET_INVALID, parsed.message)
            await self.update_status(StatusUpdate(conditions=(verdict,)))
            self._source_verdict = verdict
        if isinstance(parsed, SourceProblem):
            # read again on the next pass: the user's fix is seen at once, not after the TTL
            self.source_secrets.forget(self.namespace, secret_name)
            raise ReplicationSourceInvalid(parsed.message)
        return parsed

    async def _patch_pod(self, pod: str, patch: Obj) -> None:
        await self.client.patch(PODS, pod, patch, self.namespace, request_timeout=self.timeout)

    async def set_role_label(self, pod: str, role: str | None) -> None:
        await self._patch_pod(pod, {"metadata": {"labels": {constants.LABEL_ROLE: role}}})

    async def route_primary(self, pod: str) -> None:
        await self.primary_slices.route(self.namespace, self.name, pod)

    async def remove_demote_annotation(self, pod: str) -> None:
        await self._patch_pod(pod, {"metadata": {"annotations": {constants.ANN_DEMOTE: None}}})

    async def set_prevent_delete(self, pod: str, on: bool) -> None:
        value = "true" if on else None
        try:
            await self._patch_pod(pod, {"metadata": {"annotations": {constants.ANN_PREVENT_DELETE: value}}})
        except NotFound:
            pass  # a Pod gone needs no annotation

    async def update_status(self, update: StatusUpdate) -> None:
        now = st.now_rfc3339()

        def mutate(o: Obj) -> bool:
            status: dict[str, Any] = o.setdefault("status", {})
            status.setdefault("currentPrimaryIndex", 0)  # required by the schema
            before = repr(status)
            gen = (o.get("metadata") or {}).get("generation")
            st.apply_conditions(status, update.conditions, gen, now)
            fields = {
                "currentPrimaryIndex": update.current_primary_index,
                "syncedReplicas": update.synced_replicas,
                "errantReplicas": update.errant_replicas,
                "errantReplicaList": None
                if update.errant_replica_list is None
                else list(update.errant_replica_list),
                "cloned": update.cloned,
            }
            for k, v in fields.items():
                if v is not None:
                    status[k] = v
            st.apply_clustering(status, update.next_operation, update.last_primary_change)
            return repr(status) != before

        await self.client.update_status_with_retry(
            MYSQLCLUSTERS,
            self.name,
            self.namespace,
            mutate,
            cached=self.clusters.get(f"{self.namespace}/{self.name}"),
        )

    async def record_event(self, type: EventType, reason: str, message: str) -> None:
        obj = self.clusters.get(f"{self.namespace}/{self.name}")
        if obj is not None:
            await self.recorder.event(obj, type, reason, message)


class CloneFailed(ControllerError):
    reason = "CloneFailed"


class AgentCloneAgent:
    """Clones through the agent sidecar's API (:class:`moco.agentapi.AgentClient`).

    ``POST /clone`` over mutual TLS (the Pod's IP, its DNS name checked in the agent's
    certificate) with the Bearer token of the cluster's Secret, then ``GET /clone`` every
    ``poll`` s until the clone succeeded or failed. A clone is bounded by progress, never by
    its total time:

    * the agent kills a clone whose performance_schema.clone_progress stays the same for
      ``stall_timeout`` s, and gives the restarted mysqld ``boot_timeout`` s;
    * here, a clone whose reported stage and bytes stay the same for longer than both together
      (plus ``request_timeout``) fails, and so does an agent that does not answer for
      ``unreachable_timeout`` s (mysqld's restart leaves the agent up; a Pod re-creation not);
    * an agent that answers for another process (``instance_id``) or another clone
      (``clone_id``) was restarted and forgot the clone: fail at once, so the next pass looks
      at the instance again instead of waiting for an outcome nobody will report;
    * an agent that refuses because a clone is running (asked before this controller
      restarted) has that clone followed instead.

    ``CloneRequest.timeout`` is not a bound here (a clone of a large instance may take hours).
    """

    def __init__(
        self,
        side: ClusterKubeSide,
        *,
        tls: Callable[[], Awaitable[ssl.SSLContext]] | None = None,
        port: int = constants.AGENT_PORT,
        request_timeout: float = 10.0,
        poll: float = 2.0,
        stall_timeout: float = 600.0,
        boot_timeout: float = 600.0,
        unreachable_timeout: float = 120.0,
    ) -> None:
        self.side = side
        #: the controller's mutual-TLS context
        #: (:meth:`moco.controllers.certs.AgentCertificates.client_context`); None only in tests
        #: that run an agent without TLS
        self.tls = tls
        self.port = port
        self.request_timeout = request_timeout
        self.poll = poll
        self.stall_timeout = stall_timeout
        self.boot_timeout = boot_timeout
        self.unreachable_timeout = unreachable_timeout

    @staticmethod
    async def _running(client: AgentClient) -> CloneProgress | None:
        try:
            p = await client.clone_progress()
        except AgentAPIError:
            return None
        return p if p.state is CloneState.RUNNING else None

    async def _client(self, pod: PodInfo) -> AgentClient:
        token = await self.side.agent_token()
        if self.tls is None:
            return AgentClient(pod.host, token, port=self.port, timeout=self.request_timeout)
        return AgentClient(
            pod.host,
            token,
            port=self.port,
            timeout=self.request_timeout,
            tls=await self.tls(),
            server_name=agent_server_name(self.side.namespace, self.side.name, pod.index),
        )

    async def clone(self, pod: PodInfo, request: CloneRequest) -> None:
        client = await self._client(pod)
        wire = WireCloneRequest(
            donor_host=request.donor_host,
            donor_port=request.donor_port,
            user=request.user,
            password=request.password,
            init_user=request.init_user,
            init_password=request.init_password,
            stall_timeout_s=self.stall_timeout,
            boot_timeout_s=self.boot_timeout,
        )
        try:
            started = await client.start_clone(wire)
        except AgentRefused as e:
            # A clone already running (asked before this controller restarted): follow that one.
            running = await self._running(client) if e.status == 409 else None
            if running is None:
                raise CloneFailed(f"agent of {pod.name} did not start the clone: {e}") from e
            started = running
        except AgentAPIError as e:
            raise CloneFailed(f"agent of {pod.name} did not start the clone: {e}") from e
        log.info("clone started", pod=pod.name, clone_id=started.clone_id, donor=started.donor)
        loop = asyncio.get_running_loop()
        seen = changed = loop.time()
        moved = (started.stage, started.bytes_done)
        quiet_limit = self.stall_timeout + self.boot_timeout + self.request_timeout
        while True:
            await asyncio.sleep(self.poll)
            try:
                p = await client.clone_progress()
            except AgentRefused as e:
                raise CloneFailed(f"agent of {pod.name} refused to report the clone: {e}") from e
            except AgentUnreachable as e:
                if loop.time() - seen > self.unreachable_timeout:
                    raise CloneFailed(
                        f"agent of {pod.name} unreachable for {self.unreachable_timeout}s: {e}"
                    ) from e
                log.info("agent not answering during clone", pod=pod.name, error=str(e))
                continue
            seen = loop.time()
            if (p.instance_id, p.clone_id) != (started.instance_id, started.clone_id):
                raise CloneFailed(
                    f"agent of {pod.name} was restarted: clone {started.clone_id} is gone "
                    f"(it reports {p.state.value} clone {p.clone_id or '-'})"
                )
            if p.state is CloneState.SUCCEEDED:
                return
            if p.state is CloneState.FAILED:
                raise CloneFailed(f"clone into {pod.name} failed: {p.error}")
            if (p.stage, p.bytes_done) != moved:
                moved, changed = (p.stage, p.bytes_done), seen
            elif seen - changed > quiet_limit:
                raise CloneFailed(f"clone into {pod.name} made no progress for {round(seen - changed)}s")
