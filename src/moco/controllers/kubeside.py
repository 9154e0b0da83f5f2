"""The clustering loop's Kubernetes side (:class:`moco.clustering.interfaces.KubeSide`) over moco.kube.

One :class:`ClusterKubeSide` per MySQLCluster reads the cluster and its Pods from the informer
caches (no API round trip on the hot path), reads Secrets from the API, and writes Pod labels,
annotations, the loop's status fields and Events through the API with timeouts.

:class:`AgentCloneAgent` asks the agent sidecar of the recipient Pod to clone (``POST /clone``
with the Bearer token of the cluster's Secret) and polls ``GET /clone`` until it succeeded or
failed. :func:`pod_info` and :func:`spec_view` are the pure conversions.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

import aiohttp

from moco import constants
from moco.api import MySQLCluster
from moco.clustering.interfaces import (
    CloneRequest,
    Credentials,
    EventType,
    ReplicationSource,
    StatusUpdate,
)
from moco.clustering.types import ClusterSpecView, PodInfo
from moco.controllers import secrets as sec
from moco.controllers import status as st
from moco.controllers.errors import ControllerError
from moco.controllers.reconciler import MYSQLCLUSTERS
from moco.kube.client import Client
from moco.kube.errors import NotFound
from moco.kube.events import EventRecorder
from moco.kube.resource import PODS, SECRETS
from moco.kube.store import Obj, Store
from moco.log import get_logger

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
    ip = (pod.get("status") or {}).get("podIP")
    host = ip or f"{name}.moco-{cluster_name}.{meta.get('namespace')}.svc"
    labels = meta.get("labels") or {}
    anns = meta.get("annotations") or {}
    return PodInfo(
        name=name,
        index=int(name[len(prefix) :]),
        host=str(host),
        ready=_ready(pod),
        deleting=bool(meta.get("deletionTimestamp")),
        demote=anns.get(constants.ANN_DEMOTE) == "true",
        role=labels.get(constants.LABEL_ROLE),
    )


def _decode(secret: Obj, key: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    return base64.b64decode(raw).decode() if raw else ""


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
    ) -> None:
        self.client = client
        self.clusters = clusters
        self.pods = pods
        self.namespace = namespace
        self.name = name
        self.system_namespace = system_namespace
        self.timeout = timeout
        self.recorder = recorder or EventRecorder(client, "moco-controller")

    async def get_cluster(self) -> ClusterSpecView | None:
        """The cluster read from the API server, never from the informer cache.

        The cache may still hold the status from before the loop's own switchover or failover;
        a pass acting on that old ``currentPrimaryIndex`` would make the old primary writable
        again (MOCO reads the cluster with an uncached reader for the same reason).
        """
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

    async def get_credentials(self) -> Credentials:
        secret = await self._secret(f"mysql-{self.namespace}.{self.name}", self.system_namespace)
        pw = sec.Passwords.from_secret(secret)
        return Credentials(
            admin=pw.password(constants.ADMIN_USER),
            replication=pw.password(constants.REPLICATION_USER),
            clone_donor=pw.password(constants.CLONE_DONOR_USER),
        )

    async def agent_token(self) -> str:
        secret = await self._secret(f"mysql-{self.namespace}.{self.name}", self.system_namespace)
        return sec.Passwords.from_secret(secret).token

    async def get_replication_source(self, secret_name: str) -> ReplicationSource:
        s = await self._secret(secret_name, self.namespace)
        port = _decode(s, constants.SOURCE_PRIMARY_PORT_KEY)
        return ReplicationSource(
            host=_decode(s, constants.SOURCE_PRIMARY_HOST_KEY),
            port=int(port) if port else constants.MYSQL_PORT,
            user=_decode(s, constants.SOURCE_PRIMARY_USER_KEY),
            password=_decode(s, constants.SOURCE_PRIMARY_PASSWORD_KEY),
            clone_user=_decode(s, constants.SOURCE_CLONE_USER_KEY),
            clone_password=_decode(s, constants.SOURCE_CLONE_PASSWORD_KEY),
            init_after_clone_user=_decode(s, constants.SOURCE_INIT_AFTER_CLONE_USER_KEY),
            init_after_clone_password=_decode(s, constants.SOURCE_INIT_AFTER_CLONE_PASSWORD_KEY),
        )

    async def _patch_pod(self, pod: str, patch: Obj) -> None:
        await self.client.patch(PODS, pod, patch, self.namespace, request_timeout=self.timeout)

    async def set_role_label(self, pod: str, role: str | None) -> None:
        await self._patch_pod(pod, {"metadata": {"labels": {constants.LABEL_ROLE: role}}})

    async def remove_demote_annotation(self, pod: str) -> None:
        await self._patch_pod(pod, {"metadata": {"annotations": {constants.ANN_DEMOTE: None}}})

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
            return repr(status) != before

        await self.client.update_status_with_retry(MYSQLCLUSTERS, self.name, self.namespace, mutate)

    async def record_event(self, type: EventType, reason: str, message: str) -> None:
        obj = self.clusters.get(f"{self.namespace}/{self.name}")
        if obj is not None:
            await self.recorder.event(obj, type, reason, message)


class CloneFailed(ControllerError):
    reason = "CloneFailed"


class AgentCloneAgent:
    """Clones through the agent sidecar's HTTP API (see the module docstring)."""

    def __init__(
        self,
        side: ClusterKubeSide,
        *,
        port: int = constants.AGENT_PORT,
        request_timeout: float = 10.0,
        poll: float = 2.0,
    ) -> None:
        self.side = side
        self.port = port
        self.request_timeout = request_timeout
        self.poll = poll

    async def clone(self, pod: PodInfo, request: CloneRequest) -> None:
        token = await self.side.agent_token()
        url = f"http://{pod.host}:{self.port}/clone"
        headers = {"Authorization": f"Bearer {token}"}
        body = {
            "donor_host": request.donor_host,
            "donor_port": request.donor_port,
            "user": request.user,
            "password": request.password,
            "init_user": request.init_user,
            "init_password": request.init_password,
            "boot_timeout_s": min(request.timeout, 86400.0),
        }
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(url, json=body, headers=headers) as resp:
                if resp.status not in (200, 202):
                    raise CloneFailed(
                        f"agent of {pod.name} refused the clone: {resp.status} {await resp.text()}"
                    )
            while loop.time() < deadline:
                await asyncio.sleep(self.poll)
                try:
                    async with session.get(url, headers=headers) as resp:
                        progress = await resp.json()
                except (aiohttp.ClientError, TimeoutError) as e:
                    log.info("agent not answering during clone", pod=pod.name, error=str(e))
                    continue
                state = progress.get("state")
                if state == "succeeded":
                    return
                if state == "failed":
                    raise CloneFailed(f"clone into {pod.name} failed: {progress.get('error')}")
        raise CloneFailed(f"clone into {pod.name} did not finish within {request.timeout}s")
