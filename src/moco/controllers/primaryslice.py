"""The primary Service's EndpointSlice, written by moco instead of Kubernetes' controller.

Why: with a selector, a primary change is several endpoint changes that kube-proxy must sync:
each role label write changes the primary Service's and the replica Service's endpoints, and
kube-proxy starts a sync no sooner than ``minSyncPeriod`` (1 s by default) after the previous
one, so the change clients wait for, if it is not the first, waits for that second. The primary
Service ``moco-<name>-primary`` therefore has no selector, and moco keeps its one EndpointSlice
(named like the Service) pointing at the primary, moving it in ONE update BEFORE any label
moves: the first endpoint change of a switchover is the one clients wait for, kube-proxy syncs
it at once, and the replica Service follows the labels a second later. Measured on three local
nodes (``python -m e2e.chaos --switchovers 10``, kube-proxy's defaults): switchover p50 1.58 s
when moco moved the slice right after the labels (the replica Service's change was synced
first), 0.45 s when it moves it first.

What the slice holds (:func:`desired`, pure; what Kubernetes' controller would write for the
same Service and Pod):

1. the endpoint is the Pod of ``status.currentPrimaryIndex`` (:func:`target_pod`): the
   primary the clustering loop chose, written by it before it touches any label or routes
   (a switchover or failover writes the index first); labels are not read, so the route never
   depends on where the loop is between its label writes;
2. a Pod without an IP or in a terminal phase is no endpoint (the slice is then empty);
3. conditions as Kubernetes computes them: ``serving`` = Pod Ready, ``terminating`` = deletion
   timestamp set, ``ready`` = serving and not terminating (a not-ready primary is not routed
   to, exactly as with the selector); targetRef and nodeName name the Pod; no zone (moco does
   not read Nodes; the primary Service has one endpoint, nothing to weigh);
4. ports: each Service port whose target the Pod has (a named targetPort resolved against the
   Pod's container ports, a number as it is); an empty slice has no ports;
5. labels: the Service's own (moco's, so moco's informer sees the slice), plus
   ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by:
   moco.cybozu.com``; owned by the Service (removed with it).

Who writes it (:class:`PrimarySlices`; every write is conditional on the resourceVersion it
was computed from, so no writer overwrites a change it did not see):

6. the clustering loop, first in the pass that configures the primary, before the role labels
   (:meth:`PrimarySlices.route`): the Pod it chose, whatever the caches say;
7. the ``primaryslice`` controller on every Pod, Service, slice and cluster event
   (:meth:`PrimarySlices.sync`), which repairs a lost or hand-edited slice and follows the
   primary Pod's IP and readiness. When its cached cluster names another primary than the
   slice routes to, it reads the slice and then the cluster from the API server before
   writing (its cluster cache may lag behind the loop's status write; a slice read first and
   written conditionally is either the one the loop wrote after the index, or the write fails);
8. once the Service has no selector, the slices Kubernetes' controllers wrote for it (by the
   EndpointSlice controller while it had one, or mirrored from the stale Endpoints object that
   the Endpoints controller leaves) are deleted, and the Endpoints object with them: neither
   controller touches a selectorless Service's objects again, and a stale one would route to
   an old primary after the next switchover.

Upgrading from the selector Service: :meth:`PrimarySlices.sync` runs before the Service is
applied without its selector (the reconciler's order), so kube-proxy sees moco's slice beside
Kubernetes' (same address) before the latter goes (rule 8).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, Final

from moco import constants
from moco.api import names
from moco.kube import errors as kerr
from moco.kube.client import Client
from moco.kube.resource import ENDPOINTS, ENDPOINTSLICES, PODS, SERVICES, Resource
from moco.kube.store import Obj, Store
from moco.log import get_logger

log = get_logger("moco.controllers.primaryslice")

MYSQLCLUSTERS: Final = Resource(constants.GROUP, constants.VERSION, "mysqlclusters", "MySQLCluster")
LABEL_SERVICE_NAME: Final = "kubernetes.io/service-name"
LABEL_MANAGED_BY: Final = "endpointslice.kubernetes.io/managed-by"
#: ``endpointslice.kubernetes.io/managed-by`` of the slices moco writes
MANAGER: Final = "moco.cybozu.com"
#: the managers of the slices Kubernetes writes for a Service (rule 8)
KUBE_MANAGERS: Final = frozenset(
    {"endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io"}
)
#: attempts of :meth:`PrimarySlices.route` when another writer's update comes in between
ROUTE_ATTEMPTS: Final = 3


# --- pure: what the slice should hold -------------------------------------------------------------
def primary_index(cluster: Obj) -> int:
    """``status.currentPrimaryIndex`` (0 before the first status write, as in MOCO)."""
    return int((cluster.get("status") or {}).get("currentPrimaryIndex") or 0)


def target_pod(cluster_name: str, index: int, pods: Iterable[Obj]) -> Obj | None:
    """The chosen primary's Pod (rule 1); None when it does not exist."""
    name = names.pod_name(cluster_name, index)
    return next((p for p in pods if (p.get("metadata") or {}).get("name") == name), None)


def _family(service: Obj, pod: Obj) -> str:
    families = (service.get("spec") or {}).get("ipFamilies") or []
    if families:
        return str(families[0])
    ip = str((pod.get("status") or {}).get("podIP") or "")
    return "IPv6" if ":" in ip else "IPv4"


def _address(pod: Obj, family: str) -> str | None:
    status = pod.get("status") or {}
    ips = [str(i.get("ip")) for i in status.get("podIPs") or [] if i.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return next((ip for ip in ips if (":" in ip) == (family == "IPv6")), None)


def _pod_ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def endpoint(service: Obj, pod: Obj) -> Obj | None:
    """The Pod as an endpoint (rules 2-3), or None."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return None
    address = _address(pod, _family(service, pod))
    if address is None:
        return None
    meta = pod.get("metadata") or {}
    serving = _pod_ready(pod)
    terminating = bool(meta.get("deletionTimestamp"))
    ep: Obj = {
        "addresses": [address],
        "conditions": {"ready": serving and not terminating, "serving": serving, "terminating": terminating},
        "targetRef": {
            "kind": "Pod",
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
        },
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        ep["nodeName"] = node
    return ep


def _container_port(pod: Obj, name: str) -> tuple[int, str] | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == name:
                return int(p["containerPort"]), str(p.get("protocol") or "TCP")
    return None


def ports(service: Obj, pod: Obj) -> list[Obj]:
    """The Service's ports the Pod serves (rule 4)."""
    out: list[Obj] = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        protocol = str(sp.get("protocol") or "TCP")
        if isinstance(target, str):
            found = _container_port(pod, target)
            if found is None:
                continue
            number = found[0]
        else:
            number = int(target)
        port: Obj = {"name": str(sp.get("name") or ""), "port": number, "protocol": protocol}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        out.append(port)
    return out


def desired(service: Obj, pod: Obj | None) -> Obj:
    """The primary Service's EndpointSlice routing to ``pod`` (None: to nobody), rules 2-5."""
    meta = service.get("metadata") or {}
    ep = None if pod is None else endpoint(service, pod)
    family = "IPv4" if pod is None else _family(service, pod)
    labels = {
        **(meta.get("labels") or {}),
        LABEL_SERVICE_NAME: str(meta["name"]),
        LABEL_MANAGED_BY: MANAGER,
    }
    return {
        "apiVersion": ENDPOINTSLICES.api_version,
        "kind": ENDPOINTSLICES.kind,
        "metadata": {
            "name": str(meta["name"]),
            "namespace": str(meta["namespace"]),
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": str(meta["name"]),
                    "uid": str(meta.get("uid") or ""),
                    # no blockOwnerDeletion: it would need the update of services/finalizers
                    # where OwnerReferencesPermissionEnforcement is on, for nothing (the
                    # Service's deletion need not wait for its slice)
                    "controller": True,
                }
            ],
        },
        "addressType": family,
        "endpoints": [] if ep is None else [ep],
        "ports": [] if ep is None or pod is None else ports(service, pod),
    }


def _normal_ep(ep: Obj) -> Obj:
    # the apiserver defaults fields we leave out; compare only what we write
    keep = ("addresses", "conditions", "targetRef", "nodeName")
    out = {k: ep.get(k) for k in keep if ep.get(k) is not None}
    ref = out.get("targetRef") or {}
    out["targetRef"] = {k: ref.get(k) for k in ("kind", "namespace", "name", "uid")}
    conds = out.get("conditions") or {}
    out["conditions"] = {k: bool(conds.get(k)) for k in ("ready", "serving", "terminating")}
    return out


def up_to_date(want: Obj, live: Obj) -> bool:
    """Whether ``live`` already holds everything :func:`desired` wrote into ``want``."""
    lm, wm = live.get("metadata") or {}, want["metadata"]
    live_labels = lm.get("labels") or {}
    if any(live_labels.get(k) != v for k, v in wm["labels"].items()):
        return False
    owners = [(o.get("kind"), o.get("uid")) for o in lm.get("ownerReferences") or []]
    if ("Service", wm["ownerReferences"][0]["uid"]) not in owners:
        return False
    if live.get("addressType") != want["addressType"]:
        return False
    if [_normal_ep(e) for e in live.get("endpoints") or []] != [_normal_ep(e) for e in want["endpoints"]]:
        return False
    live_ports = [
        {k: p.get(k) for k in ("name", "port", "protocol", "appProtocol") if p.get(k) is not None}
        for p in live.get("ports") or []
    ]
    return bool(live_ports == want["ports"])


def routed_to(slice_: Obj | None) -> str | None:
    """The Pod a slice routes to (None: nobody)."""
    eps = [] if slice_ is None else slice_.get("endpoints") or []
    names_ = [str((e.get("targetRef") or {}).get("name")) for e in eps]
    return names_[0] if len(names_) == 1 else None


def stale_kube_slices(service: Obj, slices: Iterable[Obj]) -> list[Obj]:
    """Slices of the Service that Kubernetes' controllers wrote, once it has no selector (rule 8)."""
    if (service.get("spec") or {}).get("selector"):
        return []
    name = (service.get("metadata") or {}).get("name")
    out = []
    for s in slices:
        labels = (s.get("metadata") or {}).get("labels") or {}
        if labels.get(LABEL_SERVICE_NAME) == name and labels.get(LABEL_MANAGED_BY) in KUBE_MANAGERS:
            out.append(s)
    return out


# --- I/O: the writers -----------------------------------------------------------------------------
class PrimarySlices:
    """Reads and writes the primary Services' EndpointSlices (rules 6-8).

    ``slices``, ``services``, ``pods`` and ``clusters`` are informer caches; any of them may be
    None (then every read of it is a GET or LIST).
    """

    def __init__(
        self,
        client: Client,
        *,
        slices: Store | None = None,
        services: Store | None = None,
        pods: Store | None = None,
        clusters: Store | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.client = client
        #: the slice :meth:`route` last wrote, by ``namespace/name`` (the caches lag behind it)
        self._routed: dict[str, Obj] = {}
        self.clusters = clusters
        self.slices = slices
        self.services = services
        self.pods = pods
        self.timeout = timeout

    # reads
    async def _get(self, res: Any, name: str, namespace: str) -> Obj | None:
        try:
            return await self.client.get(res, name, namespace, request_timeout=self.timeout)
        except kerr.NotFound:
            return None

    async def _read(
        self, store: Store | None, res: Any, name: str, namespace: str, *, fresh: bool
    ) -> Obj | None:
        if not fresh and store is not None:
            cached = store.get(f"{namespace}/{name}")
            if cached is not None:
                return cached
        return await self._get(res, name, namespace)

    async def _cluster_pods(self, namespace: str, cluster: str, *, fresh: bool) -> list[Obj]:
        def ours(p: Obj) -> bool:
            labels = (p.get("metadata") or {}).get("labels") or {}
            return (
                labels.get(constants.LABEL_APP_INSTANCE) == cluster
                and labels.get(constants.LABEL_APP_NAME) == constants.APP_NAME_MYSQL
            )

        if not fresh and self.pods is not None:
            return [p for p in self.pods.list(namespace) if ours(p)]
        selector = (
            f"{constants.LABEL_APP_INSTANCE}={cluster},{constants.LABEL_APP_NAME}={constants.APP_NAME_MYSQL}"
        )
        items, _ = await self.client.list_all(PODS, namespace, label_selector=selector)
        return [p for p in items if ours(p)]

    # writes
    async def _write(self, want: Obj, live: Obj | None) -> Obj:
        """Create, or replace conditionally on ``live``'s resourceVersion (raises Conflict)."""
        if live is None:
            return await self.client.create(ENDPOINTSLICES, want, request_timeout=self.timeout)
        body = copy.deepcopy(want)
        body["metadata"]["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
        # labels of others (none expected) are kept
        body["metadata"]["labels"] = {
            **((live.get("metadata") or {}).get("labels") or {}),
            **want["metadata"]["labels"],
        }
        return await self.client.replace(ENDPOINTSLICES, body, request_timeout=self.timeout)

    async def route(self, namespace: str, cluster: str, pod_name: str) -> bool:
        """Route the cluster's primary Service to ``pod_name`` (rule 6); whether it wrote.

        The loop has just written that Pod's index as ``status.currentPrimaryIndex``: it is the
        chosen primary whatever the caches say. A write that meets another one is read again
        and retried.
        """
        svc_name = names.primary_service_name(cluster)
        for attempt in range(ROUTE_ATTEMPTS):
            fresh = attempt > 0
            service = await self._read(self.services, SERVICES, svc_name, namespace, fresh=fresh)
            if service is None:
                return False  # the reconciler creates it; its sync routes then
            pod = await self._read(self.pods, PODS, pod_name, namespace, fresh=fresh)
            live = await self._read(self.slices, ENDPOINTSLICES, svc_name, namespace, fresh=fresh)
            want = desired(service, pod)
            key = f"{namespace}/{svc_name}"
            if live is not None and up_to_date(want, live):
                return False
            last = self._routed.get(key)
            if not fresh and last is not None and up_to_date(want, last):
                # this process wrote it and the cache has not seen it yet: nothing to do
                # (a later hand edit is the controller's to repair)
                return False
            try:
                self._routed[key] = await self._write(want, live)
            except (kerr.Conflict, kerr.NotFound):
                if attempt == ROUTE_ATTEMPTS - 1:
                    raise
                continue
            log.info("primary service routed", namespace=namespace, cluster=cluster, pod=pod_name)
            return True
        return False

    async def sync(self, namespace: str, cluster: str) -> bool:
        """Bring the cluster's primary slice in line with its chosen primary and drop
        Kubernetes' stale ones (rules 7-8); whether it wrote. Raises Conflict when another
        writer came in between (the caller retries)."""
        svc_name = names.primary_service_name(cluster)
        service = await self._read(self.services, SERVICES, svc_name, namespace, fresh=False)
        if service is None:
            return False
        live = await self._read(self.slices, ENDPOINTSLICES, svc_name, namespace, fresh=False)
        obj = await self._read(self.clusters, MYSQLCLUSTERS, cluster, namespace, fresh=False)
        if obj is None:
            return False
        pod = target_pod(
            cluster, primary_index(obj), await self._cluster_pods(namespace, cluster, fresh=False)
        )
        if names.pod_name(cluster, primary_index(obj)) != routed_to(live):
            # another Pod than the slice routes to: the slice first, then the cluster, both
            # from the API server (rule 7)
            live = await self._get(ENDPOINTSLICES, svc_name, namespace)
            obj = await self._get(MYSQLCLUSTERS, cluster, namespace)
            if obj is None:
                return False
            pod = target_pod(
                cluster, primary_index(obj), await self._cluster_pods(namespace, cluster, fresh=True)
            )
        want = desired(service, pod)
        wrote = False
        if live is None or not up_to_date(want, live):
            await self._write(want, live)
            log.info(
                "primary service slice written",
                namespace=namespace,
                cluster=cluster,
                pod=None if pod is None else pod["metadata"]["name"],
            )
            wrote = True
        await self._drop_stale(service)
        return wrote

    async def _drop_stale(self, service: Obj) -> None:
        meta = service["metadata"]
        namespace = str(meta["namespace"])
        if self.slices is not None:
            candidates: Sequence[Obj] = self.slices.list(namespace)
        else:
            candidates, _ = await self.client.list_all(
                ENDPOINTSLICES, namespace, label_selector=f"{LABEL_SERVICE_NAME}={meta['name']}"
            )
        stale = stale_kube_slices(service, candidates)
        if not stale:
            return
        # the Endpoints object first: the mirroring controller would copy it into a slice again
        for res, name in [(ENDPOINTS, str(meta["name"]))] + [
            (ENDPOINTSLICES, str(s["metadata"]["name"])) for s in stale
        ]:
            try:
                await self.client.delete(res, name, namespace, request_timeout=self.timeout)
            except kerr.NotFound:
                pass
        log.info(
            "kubernetes' slices of the primary service removed",
            namespace=namespace,
            service=meta["name"],
            slices=len(stale),
        )
