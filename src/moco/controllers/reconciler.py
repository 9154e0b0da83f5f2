"""The MySQLCluster reconciler: render the desired objects, server-side apply them, report.

One :meth:`MySQLClusterReconciler.reconcile` per key (``namespace/name``), level-based:

1. the cluster is read from the informer cache; gone -> its clustering loop is stopped;
2. being deleted -> the loop is stopped, the controller-namespace Secret deleted, the finalizer
   removed (everything else is owned by the cluster and goes by garbage collection);
3. ``moco.cybozu.com/reconciliation-stopped: "true"`` -> nothing is touched but the
   ReconciliationActive condition (False) and the clustering loop, which goes on;
4. first reconcile -> :func:`moco.api.with_defaults` written back (random ``serverIDBase``, the
   finalizer) through a conflict-retried read-modify-write that never redraws a base already set;
5. Secrets (passwords; the agents' certificate, :mod:`~moco.controllers.certs`), my.cnf and
   slow-log ConfigMaps, ServiceAccount, Services, StatefulSet (partitioned
   rolling update, re-creation with orphaned Pods when claim templates change, claim growth),
   PodDisruptionBudget; old generated ConfigMaps pruned; the backup CronJob and the restore Job
   with their RBAC (:mod:`~moco.controllers.backupjobs`); the clustering loop started or woken;
6. status: ReconcileSuccess, StatefulSetReady, ReconciliationActive, reconcileInfo and, with
   ``spec.restore``, Restored (only those); ``status.backup`` is copied into MOCO's
   ``moco_backup_*`` metrics (:mod:`~moco.controllers.backupmetrics`) on every reconcile.

Every API call has a timeout (the client's default or ``api_timeout``). Failures raise after
the status is written: the controller retries with backoff. Passwords are never logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from moco import constants
from moco.api import InvalidObject, MySQLCluster, with_defaults
from moco.clustering.interfaces import Condition
from moco.controllers import (
    applied,
    backupmetrics,
    clustermetrics,
    configmaps,
    mysqlcert,
    reconcileversion,
    services,
    statefulset,
    validation,
)
from moco.controllers import secrets as sec
from moco.controllers import status as st
from moco.controllers.backupjobs import BackupJobs
from moco.controllers.certs import AgentCertificates
from moco.controllers.common import Obj, is_true
from moco.controllers.containers import Images, mysqld_container
from moco.controllers.errors import ControllerError, InvalidSpec, Refused
from moco.controllers.podsecurity import SecurityDefaults
from moco.controllers.primaryslice import PrimarySlices
from moco.controllers.rotator import Rotator
from moco.controllers.volumes import ClaimPlan, plan_claims, plan_metadata_sync
from moco.kube import errors as kerr
from moco.kube.client import Client
from moco.kube.controller import Result
from moco.kube.events import EventRecorder
from moco.kube.resource import (
    CONFIGMAPS,
    PERSISTENTVOLUMECLAIMS,
    PODDISRUPTIONBUDGETS,
    PODS,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    STATEFULSETS,
    Resource,
)
from moco.kube.store import Store, split_key
from moco.log import get_logger

MYSQLCLUSTERS = Resource(constants.GROUP, constants.VERSION, "mysqlclusters", "MySQLCluster")
STORAGECLASSES = Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False)

log = get_logger("moco.controllers.reconciler")


class ClusteringRegistry(Protocol):
    """What the reconciler needs of :class:`moco.clustering.manager.ClusterManager`."""

    def update(self, namespace: str, name: str) -> object: ...

    async def stop(self, namespace: str, name: str) -> None: ...


@dataclass(frozen=True)
class ReconcilerConfig:
    system_namespace: str
    images: Images
    configmap_history_limit: int = configmaps.DEFAULT_HISTORY_LIMIT
    api_timeout: float = 10.0
    #: how long to wait for an orphan-deleted StatefulSet to disappear before re-creating it.
    recreate_wait: float = 10.0
    #: run a new my.cnf through ``mysqld --validate-config`` (a Job) before the StatefulSet gets
    #: it (:mod:`moco.controllers.validation`); the controller's CLI turns it on by default
    validate_config: bool = False
    #: cpu/memory requests and limits of the backup and restore Pods from their jobConfig
    job_resources: bool = True
    #: what moco fills in the Pods' security contexts (``--disable-default-security-context``)
    security: SecurityDefaults = field(default_factory=SecurityDefaults)
    #: MOCO's ``--pvc-sync-label-keys`` / ``--pvc-sync-annotation-keys``: the label and annotation
    #: keys whose values flow from the claim templates to existing claims (none by default, as in
    #: MOCO; :func:`moco.controllers.volumes.plan_metadata_sync`)
    pvc_sync_label_keys: tuple[str, ...] = ()
    pvc_sync_annotation_keys: tuple[str, ...] = ()


@dataclass
class _Outcome:
    sts: Obj | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    #: look again after this many seconds (a my.cnf validation is pending)
    requeue_after: float = 0.0
    #: the Restored condition (clusters with ``spec.restore``)
    restored: Condition | None = None
    #: what the spec asks and was not done, reported as ``Refused`` once every step has run
    refusals: list[str] = field(default_factory=list)


class MySQLClusterReconciler:
    """Reconciles MySQLClusters (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        clusters: Store,
        cfg: ReconcilerConfig,
        *,
        clustering: ClusteringRegistry | None = None,
        recorder: EventRecorder | None = None,
        token_hex: Callable[[int], str] = secrets.token_hex,
        rng: random.Random | None = None,
        certs: AgentCertificates | None = None,
    ) -> None:
        self.client = client
        self.clusters = clusters
        self.cfg = cfg
        self.clustering = clustering
        self.recorder = recorder or EventRecorder(client, "moco-controller")
        self.token_hex = token_hex
        self.rng = rng or random.SystemRandom()
        self.validator = validation.ConfigValidator(client, timeout=cfg.api_timeout)
        #: the agent channel's CA and the agents' certificate Secrets (shared with the clustering
        #: loops, which call agents with its client certificate)
        self.certs = certs or AgentCertificates(client, cfg.system_namespace, timeout=cfg.api_timeout)
        #: informer caches of the kinds the reconciler applies: an apply is skipped when the
        #: cached object is already as desired (setup fills it; empty = always apply)
        self.live: dict[Resource, Store] = {}
        #: the backup CronJob and restore Job step; setup gives it the informer caches
        self.jobs = BackupJobs(
            self._get,
            self._apply,
            self._delete,
            cfg.images.backup_image,
            job_resources=cfg.job_resources,
            security=cfg.security,
        )
        #: the credential rotation (MOCO's password-rotate / password-discard annotations); setup
        #: gives it its connections to the instances (None: rotation annotations are not acted on)
        self.rotator: Rotator | None = None
        #: writes the primary Service's EndpointSlice (setup gives it the informer caches;
        #: without them every read is a GET)
        self.primary_slices = PrimarySlices(client, timeout=cfg.api_timeout)

    # --- small helpers -----------------------------------------------------------------------
    async def _get(self, res: Resource, name: str, namespace: str | None) -> Obj | None:
        try:
            return await self.client.get(res, name, namespace, request_timeout=self.cfg.api_timeout)
        except kerr.NotFound:
            return None

    async def _cached(self, res: Resource, name: str, namespace: str | None) -> Obj | None:
        """The object from its informer cache; a GET when the cache does not hold it (not
        created yet, or a kind without a cache). For reads whose staleness the next event mends:
        never for a read that must see a change this reconcile made."""
        store = self.live.get(res)
        if store is not None:
            obj = store.get(f"{namespace}/{name}" if res.namespaced else name)
            if obj is not None:
                return obj
        return await self._get(res, name, namespace)

    def _cached_list(self, res: Resource, namespace: str) -> list[Obj] | None:
        """Every cached object of ``res`` in ``namespace`` (None: no cache for the kind)."""
        store = self.live.get(res)
        return None if store is None else store.list(namespace)

    async def _apply(self, res: Resource, obj: Obj) -> Obj:
        """Server-side apply, skipped when the cached object already is as desired
        (:mod:`moco.controllers.applied`)."""
        obj = applied.fingerprinted(obj)
        store = self.live.get(res)
        if store is not None:
            meta = obj["metadata"]
            live = store.get(f"{meta['namespace']}/{meta['name']}" if res.namespaced else str(meta["name"]))
            if live is not None and applied.up_to_date(obj, live):
                return live
        return await self.client.apply(
            res, obj, field_manager=constants.FIELD_MANAGER, force=True, request_timeout=self.cfg.api_timeout
        )

    async def _sync_primary_slice(self, cluster: MySQLCluster) -> None:
        try:
            await self.primary_slices.sync(cluster.namespace, cluster.name)
        except kerr.Conflict:
            pass  # another writer came in between; the primaryslice controller looks again

    async def _delete(self, res: Resource, name: str, namespace: str | None, **kw: Any) -> bool:
        try:
            await self.client.delete(res, name, namespace, request_timeout=self.cfg.api_timeout, **kw)
        except kerr.NotFound:
            return False
        return True

    # --- entry point -------------------------------------------------------------------------
    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        ns = namespace or ""
        obj = self.clusters.get(key)
        if obj is None:
            backupmetrics.forget(ns, name)
            clustermetrics.forget(ns, name)
            if self.clustering is not None:
                await self.clustering.stop(ns, name)
            return None
        try:
            cluster = MySQLCluster.parse(obj)
        except InvalidObject as e:
            log.error("cannot parse MySQLCluster", cluster=name, namespace=ns, error=str(e))
            await self.recorder.warning(obj, "InvalidSpec", str(e))
            return None
        bound = log.bind(cluster=name, namespace=ns)
        backupmetrics.observe(cluster)
        if cluster.metadata.get("deletionTimestamp"):
            await self._finalize(cluster, obj)
            return None
        if is_true(cluster, constants.ANN_RECONCILIATION_STOPPED):
            bound.info("reconciliation is stopped")
            clustermetrics.reconciled(ns, name, stopped=True, sts=None)
            await self._write_status(cluster, [st.reconciliation_active(False)], None)
            if self.clustering is not None:
                self.clustering.update(ns, name)
            return None
        cluster, obj = await self._ensure_defaults(cluster)
        if self.clustering is not None:
            # Started before anything below can fail (MOCO #543): after a controller restart a
            # cluster whose objects cannot be reconciled must still have its loop (failover).
            self.clustering.update(ns, name)
        outcome = _Outcome()
        error: ControllerError | kerr.KubeError | None = None
        try:
            await self._reconcile_objects(cluster, outcome)
            outcome.restored = await self.jobs.reconcile(cluster, outcome.events)
            if self.rotator is not None and self.rotator.wanted(obj):
                again = await self.rotator.reconcile(
                    cluster, self._apply, lambda *e: outcome.events.append(e)
                )
                if again:
                    outcome.requeue_after = min(outcome.requeue_after or again, again)
            if outcome.refusals:
                raise Refused("; ".join(outcome.refusals))
        except (ControllerError, kerr.KubeError) as e:
            error = e
        for type_, reason, message in outcome.events:
            await self.recorder.event(obj, type_, reason, message)  # type: ignore[arg-type]
        if outcome.sts is None and error is not None:
            outcome.sts = await self._cached(STATEFULSETS, cluster.prefixed_name(), ns)
        clustermetrics.reconciled(ns, name, stopped=False, sts=outcome.sts)
        conds = [
            st.reconcile_success(
                None if error is None else f"{type(error).__name__}: {error}",
                error.reason if isinstance(error, ControllerError) else "ReconcileFailed",
            ),
            st.statefulset_ready(outcome.sts),
            st.reconciliation_active(True),
        ]
        if outcome.restored is not None:
            conds.append(outcome.restored)
        if error is not None:  # the Event before the condition: whoever sees one finds the other
            bound.warning("reconcile failed", error=str(error))
            reason = error.reason if isinstance(error, ControllerError) else "ReconcileFailed"
            await self.recorder.warning(obj, reason, str(error))
        await self._write_status(cluster, conds, cluster.metadata.get("generation"))
        if error is not None:
            raise error
        if self.clustering is not None:
            self.clustering.update(ns, name)
        return Result(requeue_after=outcome.requeue_after) if outcome.requeue_after else None

    # --- steps -------------------------------------------------------------------------------
    async def _finalize(self, cluster: MySQLCluster, obj: Obj) -> None:
        if constants.FINALIZER not in (cluster.metadata.get("finalizers") or []):
            return
        if self.clustering is not None:
            await self.clustering.stop(cluster.namespace, cluster.name)
        await self._release_pods(cluster)
        backupmetrics.forget(cluster.namespace, cluster.name)
        clustermetrics.forget(cluster.namespace, cluster.name)
        await self._delete(SECRETS, cluster.controller_secret_name(), self.cfg.system_namespace)

        def drop(o: Obj) -> bool:
            fins = o["metadata"].get("finalizers") or []
            if constants.FINALIZER not in fins:
                return False
            o["metadata"]["finalizers"] = [f for f in fins if f != constants.FINALIZER]
            return True

        try:
            await self.client.update_with_retry(MYSQLCLUSTERS, cluster.name, cluster.namespace, drop)
        except kerr.NotFound:
            return
        log.info("finalized", cluster=cluster.name, namespace=cluster.namespace)

    async def _release_pods(self, cluster: MySQLCluster) -> None:
        """Remove ``moco.cybozu.com/prevent-delete`` from the Pods of a cluster being deleted: the
        loop that removes it has stopped, and the garbage collector must be able to delete them."""
        selector = (
            f"{constants.LABEL_APP_NAME}={constants.APP_NAME_MYSQL},"
            f"{constants.LABEL_APP_INSTANCE}={cluster.name}"
        )
        pods, _ = await self.client.list_all(PODS, cluster.namespace, label_selector=selector)
        for pod in pods:
            if constants.ANN_PREVENT_DELETE not in (pod["metadata"].get("annotations") or {}):
                continue
            patch = {"metadata": {"annotations": {constants.ANN_PREVENT_DELETE: None}}}
            try:
                await self.client.patch(
                    PODS,
                    pod["metadata"]["name"],
                    patch,
                    cluster.namespace,
                    request_timeout=self.cfg.api_timeout,
                )
            except kerr.NotFound:
                continue

    async def _ensure_defaults(self, cluster: MySQLCluster) -> tuple[MySQLCluster, Obj]:
        defaulted = with_defaults(cluster, self.rng)
        has_fin = constants.FINALIZER in (cluster.metadata.get("finalizers") or [])
        if cluster.spec.server_id_base and has_fin:
            return cluster, cluster.to_json()
        base = defaulted.spec.server_id_base

        def mutate(o: Obj) -> bool:
            changed = False
            spec = o.setdefault("spec", {})
            if not spec.get("serverIDBase"):
                spec["serverIDBase"] = base
                changed = True
            fins = o["metadata"].setdefault("finalizers", [])
            if constants.FINALIZER not in fins:
                fins.append(constants.FINALIZER)
                changed = True
            return changed

        updated = await self.client.update_with_retry(
            MYSQLCLUSTERS,
            cluster.name,
            cluster.namespace,
            mutate,
            cached=self.clusters.get(f"{cluster.namespace}/{cluster.name}"),
        )
        log.info("defaults written", cluster=cluster.name, namespace=cluster.namespace)
        return MySQLCluster.parse(updated), updated

    async def _passwords(self, cluster: MySQLCluster, outcome: _Outcome) -> sec.Passwords:
        name, sysns = cluster.controller_secret_name(), self.cfg.system_namespace
        current = await self._cached(SECRETS, name, sysns)
        if current is None:
            pw = sec.Passwords.generate(self.token_hex)
            try:
                await self.client.create(
                    SECRETS, sec.controller_secret(cluster, sysns, pw), request_timeout=self.cfg.api_timeout
                )
                outcome.events.append(("Normal", "SecretCreated", f"created Secret {sysns}/{name}"))
                return pw
            except kerr.AlreadyExists:
                current = await self._get(SECRETS, name, sysns)
                if current is None:
                    raise
        pw = sec.Passwords.from_secret(current)
        if pw.missing():
            pw = pw.completed(self.token_hex)
            data = sec.controller_secret(cluster, sysns, pw)["data"]
            patch = {"data": data, "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}}
            await self.client.patch(SECRETS, name, patch, sysns, request_timeout=self.cfg.api_timeout)
        return pw

    async def _user_conf(self, cluster: MySQLCluster) -> dict[str, str] | None:
        cm_name = cluster.spec.mysql_config_map_name
        if not cm_name:
            return None
        cm = await self._cached(CONFIGMAPS, cm_name, cluster.namespace)
        if cm is None:
            raise InvalidSpec(f"ConfigMap {cluster.namespace}/{cm_name} (spec.mysqlConfigMapName) not found")
        return dict(cm.get("data") or {})

    async def _reconcile_objects(self, cluster: MySQLCluster, outcome: _Outcome) -> None:
        ns = cluster.namespace
        pw = await self._passwords(cluster, outcome)
        await self._apply(SECRETS, sec.user_secret(cluster, pw))
        await self._apply(SECRETS, sec.mycnf_secret(cluster, pw))
        # looked at again when a certificate or the CA is due, without waiting for an event
        outcome.requeue_after = await self.certs.reconcile_agent(
            cluster, self._cached, self._apply, outcome.events
        )
        # mysqld's certificate: issued for every cluster, served from reconcile version 3
        outcome.requeue_after = min(
            outcome.requeue_after,
            await mysqlcert.reconcile(self.certs, cluster, self._cached, self._apply, outcome.events),
        )

        user_conf = await self._user_conf(cluster)
        tls = reconcileversion.serves_moco_tls(reconcileversion.for_cluster(cluster))
        mycnf_cm = configmaps.mycnf_configmap(cluster, user_conf, tls=tls)
        await self._apply(CONFIGMAPS, mycnf_cm)
        slow_cm = configmaps.slow_log_configmap(cluster)
        if slow_cm is not None:
            await self._apply(CONFIGMAPS, slow_cm)

        await self._apply(SERVICEACCOUNTS, services.service_account(cluster))
        # The primary Service's slice before the Service (a selector Service of an earlier moco
        # keeps its endpoints until moco's slice routes), and after it (a new Service, or
        # Kubernetes' slices to drop): moco.controllers.primaryslice
        await self._sync_primary_slice(cluster)
        for svc in services.services(cluster):
            await self._apply(SERVICES, svc)
        await self._sync_primary_slice(cluster)

        if self.cfg.validate_config and not await self._validated(cluster, mycnf_cm, user_conf, outcome):
            return
        outcome.sts = await self._reconcile_statefulset(
            cluster,
            mycnf_cm["metadata"]["name"],
            None if slow_cm is None else slow_cm["metadata"]["name"],
            outcome,
        )

        pdb = services.pdb(cluster)
        if pdb is None:
            await self._delete(PODDISRUPTIONBUDGETS, cluster.prefixed_name(), ns)
        else:
            await self._apply(PODDISRUPTIONBUDGETS, pdb)

        await self._prune_configmaps(
            cluster, mycnf_cm["metadata"]["name"], None if slow_cm is None else slow_cm["metadata"]["name"]
        )

    async def _validated(
        self, cluster: MySQLCluster, mycnf_cm: Obj, user_conf: dict[str, str] | None, outcome: _Outcome
    ) -> bool:
        """Whether mysqld accepted ``mycnf_cm`` (raises ConfigRefused if not); while the check runs
        the StatefulSet is left as it is and the reconcile is requeued."""
        live = await self._cached(STATEFULSETS, cluster.prefixed_name(), cluster.namespace)
        v = await self.validator.check(
            cluster,
            mycnf_cm["data"][constants.MYSQL_CONF_NAME],
            mycnf_cm["metadata"]["name"],
            mysqld_container(cluster, self.cfg.security),
            user_conf,
            outcome.events,
            live,
        )
        if v.state is validation.State.PASSED:
            return True
        outcome.requeue_after = validation.RECHECK_SECONDS
        outcome.sts = live
        return False

    async def _reconcile_statefulset(
        self, cluster: MySQLCluster, mycnf_name: str, slow_name: str | None, outcome: _Outcome
    ) -> Obj:
        ns, name = cluster.namespace, cluster.prefixed_name()
        live = await self._cached(STATEFULSETS, name, ns)
        desired = statefulset.statefulset(
            cluster, mycnf_name, slow_name, self.cfg.images, security=self.cfg.security, live=live
        )
        force = is_true(cluster, constants.ANN_FORCE_ROLLING_UPDATE)
        partition = statefulset.decide_partition(live, desired, force=force)
        desired["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = partition
        if live is not None and partition > 0 and statefulset.live_partition(live) != partition:
            outcome.events.append(
                ("Normal", "RollingUpdateStarted", f"Pod template changed: partition set to {partition}")
            )
        claims = await self._plan_claims(cluster)
        await self._grow_claims(cluster, claims, outcome)
        if statefulset.needs_recreate(live, desired):
            assert live is not None
            outcome.events.extend(("Normal", "VolumeClaimKept", k.message()) for k in claims.kept)
            try:
                await self._delete(
                    STATEFULSETS, name, ns, propagation="Orphan", uid=live["metadata"].get("uid")
                )
                await self._wait_gone(STATEFULSETS, name, ns)
            except Exception:
                clustermetrics.statefulset_recreated(ns, cluster.name, ok=False)
                raise
            clustermetrics.statefulset_recreated(ns, cluster.name, ok=True)
            outcome.events.append(
                (
                    "Normal",
                    "StatefulSetRecreated",
                    "volume claim templates changed: StatefulSet re-created, Pods kept",
                )
            )
            log.info("statefulset re-created", cluster=cluster.name, namespace=ns)
        return await self._apply(STATEFULSETS, desired)

    async def _wait_gone(self, res: Resource, name: str, namespace: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.recreate_wait
        while await self._get(res, name, namespace) is not None:
            if loop.time() > deadline:
                raise kerr.Timeout(f"{res} {namespace}/{name} still exists after {self.cfg.recreate_wait}s")
            await asyncio.sleep(0.2)

    async def _plan_claims(self, cluster: MySQLCluster) -> ClaimPlan:
        """What to do with the cluster's existing claims (:mod:`moco.controllers.volumes`); the
        StorageClasses are read only when some claim would grow."""
        sel = (
            f"{constants.LABEL_APP_NAME}={constants.APP_NAME_MYSQL},"
            f"{constants.LABEL_APP_INSTANCE}={cluster.name}"
        )
        cached = self._cached_list(PERSISTENTVOLUMECLAIMS, cluster.namespace)
        if cached is None:
            pvcs, _ = await self.client.list_all(
                PERSISTENTVOLUMECLAIMS, cluster.namespace, label_selector=sel
            )
        else:
            pvcs = [
                p
                for p in cached
                if (p["metadata"].get("labels") or {}).get(constants.LABEL_APP_INSTANCE) == cluster.name
            ]
        sync = plan_metadata_sync(
            cluster, pvcs, self.cfg.pvc_sync_label_keys, self.cfg.pvc_sync_annotation_keys
        )
        plan = dataclasses.replace(plan_claims(cluster, pvcs, {}, None), sync=sync)
        if not plan.blocked:
            return plan
        classes: dict[str, Obj] = {}
        default_class: Obj | None = None
        try:
            scs, _ = await self.client.list_all(STORAGECLASSES)
        except kerr.Forbidden:
            scs = []  # namespace-scoped: classes cannot be read, so growth stays blocked
        for sc in scs:
            classes[sc["metadata"]["name"]] = sc
            anns = sc["metadata"].get("annotations") or {}
            if anns.get("storageclass.kubernetes.io/is-default-class") == "true":
                default_class = sc
        return dataclasses.replace(plan_claims(cluster, pvcs, classes, default_class), sync=sync)

    async def _grow_claims(self, cluster: MySQLCluster, plan: ClaimPlan, outcome: _Outcome) -> None:
        """Patch the claims that grow; the blocked ones become refusals (reported once every
        other step has run, so a claim that cannot grow never stops the rest). The synced label
        and annotation values go first, as in MOCO."""
        for m in plan.sync:
            await self.client.patch(
                PERSISTENTVOLUMECLAIMS,
                m.claim,
                m.patch(),
                cluster.namespace,
                request_timeout=self.cfg.api_timeout,
            )
            log.info(
                "claim metadata synced",
                cluster=cluster.name,
                namespace=cluster.namespace,
                claim=m.claim,
                labels=sorted(m.labels),
                annotations=sorted(m.annotations),
            )
        for b in plan.blocked:
            clustermetrics.volume_resized(cluster.namespace, cluster.name, ok=False)
            outcome.refusals.append(b.message())
        for g in plan.grow:
            patch = {"spec": {"resources": {"requests": {"storage": g.size}}}}
            try:
                await self.client.patch(
                    PERSISTENTVOLUMECLAIMS,
                    g.claim,
                    patch,
                    cluster.namespace,
                    request_timeout=self.cfg.api_timeout,
                )
            except Exception:
                clustermetrics.volume_resized(cluster.namespace, cluster.name, ok=False)
                raise
            clustermetrics.volume_resized(cluster.namespace, cluster.name, ok=True)
            outcome.events.append(
                ("Normal", "VolumeResized", f"PersistentVolumeClaim {g.claim} grown to {g.size}")
            )

    async def _prune_configmaps(self, cluster: MySQLCluster, mycnf_name: str, slow_name: str | None) -> None:
        uid = str(cluster.metadata.get("uid", ""))
        cms = self._cached_list(CONFIGMAPS, cluster.namespace)
        if cms is None:
            cms, _ = await self.client.list_all(CONFIGMAPS, cluster.namespace)
        doomed = configmaps.prunable(
            cms, cluster.mycnf_configmap_prefix(), mycnf_name, uid, self.cfg.configmap_history_limit
        )
        doomed += configmaps.prunable(
            cms, configmaps.slow_log_prefix(cluster), slow_name, uid, self.cfg.configmap_history_limit
        )
        for cm in doomed:
            await self._delete(CONFIGMAPS, cm, cluster.namespace)
            log.info("old ConfigMap deleted", cluster=cluster.name, namespace=cluster.namespace, configmap=cm)

    async def _write_status(self, cluster: MySQLCluster, conds: list[Condition], generation: Any) -> None:
        now = st.now_rfc3339()

        def mutate(o: Obj) -> bool:
            status = o.setdefault("status", {})
            status.setdefault("currentPrimaryIndex", 0)  # required by the schema
            changed = st.apply_conditions(status, conds, generation, now)
            if generation is not None:
                changed = st.set_reconcile_info(status, int(generation)) or changed
            return changed

        try:
            await self.client.update_status_with_retry(
                MYSQLCLUSTERS,
                cluster.name,
                cluster.namespace,
                mutate,
                cached=self.clusters.get(f"{cluster.namespace}/{cluster.name}"),
            )
        except kerr.NotFound:
            return
