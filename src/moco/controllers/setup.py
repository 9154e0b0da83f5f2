"""Wiring: informers, the two controllers and the clustering registry on a :class:`moco.kube.Manager`.

* ``mysqlcluster`` controller (:class:`~moco.controllers.reconciler.MySQLClusterReconciler`): fed
  by MySQLClusters, by the objects they own (StatefulSet, Services, Secrets, ConfigMaps, PDB,
  ServiceAccount, the backup CronJob, the restore Job, their Roles and RoleBindings: the owner's
  key), by user ConfigMaps named in ``spec.mysqlConfigMapName``, by BackupPolicies (every
  cluster of the namespace naming the policy in ``spec.backupPolicyName``), and by the
  controller-namespace Secret (its labels name the cluster);
* ``partition`` controller (:class:`~moco.controllers.partition.PartitionReconciler`): fed by
  moco's StatefulSets and their Pods;
* ``primaryslice`` controller (:class:`~moco.controllers.primaryslice.PrimarySlices`): the
  primary Service's EndpointSlice, fed by MySQLClusters, their Pods, Services and slices;
* the clustering registry (:class:`moco.clustering.manager.ClusterManager`) runs while leader;
  Pod events that matter (added, deleted, terminating, demote annotation, readiness, role,
  a container's restart or readiness: :func:`_pod_matters`) wake the cluster's loop at once.

Caches are scoped by the manager (one namespace, or the whole cluster); Secrets and Pods are
cached only when they carry moco's labels. The clustering loops read the controller Secret from
that Secret cache (a further informer on the controller's namespace only when the manager
watches another single namespace) and user replication-source Secrets through one shared
:class:`~moco.controllers.kubeside.SecretCache`, so a pass issues no Secret GET.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from moco import constants
from moco.clustering.config import ProcessConfig
from moco.clustering.interfaces import CloneAgent, KubeSide
from moco.clustering.manager import ClusterManager
from moco.controllers.backupjobs import BACKUPPOLICIES
from moco.controllers.certs import AgentCertificates
from moco.controllers.kubeside import AgentCloneAgent, ClusterKubeSide, SecretCache
from moco.controllers.partition import PartitionReconciler
from moco.controllers.primaryslice import PrimarySlices
from moco.controllers.reconciler import MYSQLCLUSTERS, MySQLClusterReconciler, ReconcilerConfig
from moco.controllers.rotator import PodDialer, Rotator, RotatorConfig
from moco.kube import errors as kerr
from moco.kube.client import Client
from moco.kube.controller import Controller, Result
from moco.kube.events import EventRecorder
from moco.kube.handlers import FuncHandler, enqueue_by_label, enqueue_mapped, enqueue_owner
from moco.kube.manager import Manager
from moco.kube.resource import (
    CONFIGMAPS,
    CRONJOBS,
    DEPLOYMENTS,
    ENDPOINTSLICES,
    JOBS,
    PERSISTENTVOLUMECLAIMS,
    PODDISRUPTIONBUDGETS,
    PODS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    STATEFULSETS,
)
from moco.kube.store import Obj, field_index

MOCO_SELECTOR = f"{constants.LABEL_APP_CREATED_BY}={constants.APP_CREATOR}"
POD_SELECTOR = f"{constants.LABEL_APP_NAME}={constants.APP_NAME_MYSQL},{MOCO_SELECTOR}"
INDEX_MYCNF = "mysqlConfigMapName"
INDEX_BACKUP_POLICY = "backupPolicyName"
#: the restore Job and the Jobs of the backup CronJob (MOCO's ``mysql-backup`` label)
BACKUP_SELECTOR = f"{constants.LABEL_APP_NAME}={constants.APP_NAME_BACKUP},{MOCO_SELECTOR}"


@dataclass
class Wiring:
    """What :func:`setup` built (tests and the CLI reach into it)."""

    reconciler: MySQLClusterReconciler
    partition: PartitionReconciler
    clustering: ClusterManager | None
    controllers: tuple[Controller, ...]


def _pod_matters(old: Obj, new: Obj) -> bool:
    """The one filter of Pod updates that wake the clustering loop.

    A deletion timestamp, the demote annotation, the role label, the Pod's readiness, its IP,
    and each container's restart count and readiness: a mysqld that restarted (killed right
    after a failover, say) must be looked at before it is taken for a healthy primary, even
    when the Pod's Ready condition did not change in between.
    """

    def facts(p: Obj) -> tuple[object, ...]:
        meta = p.get("metadata") or {}
        status = p.get("status") or {}
        conds = status.get("conditions") or []
        ready = next((c.get("status") for c in conds if c.get("type") == "Ready"), None)
        containers = tuple(
            sorted(
                (str(c.get("name")), int(c.get("restartCount") or 0), bool(c.get("ready")))
                for c in status.get("containerStatuses") or []
            )
        )
        return (
            bool(meta.get("deletionTimestamp")),
            (meta.get("annotations") or {}).get(constants.ANN_DEMOTE),
            (meta.get("labels") or {}).get(constants.LABEL_ROLE),
            ready,
            status.get("podIP"),
            containers,
        )

    return facts(old) != facts(new)


def setup(
    manager: Manager,
    client: Client,
    cfg: ReconcilerConfig,
    *,
    clustering: ProcessConfig | None = None,
    enable_clustering: bool = True,
    workers: int = 4,
    partition_update_interval: float = 0.0,
) -> Wiring:
    """Register informers, controllers and the clustering runnable on ``manager``."""
    recorder = EventRecorder(client, "moco-controller")
    agent_certs = AgentCertificates(client, cfg.system_namespace, timeout=cfg.api_timeout)
    clusters = manager.informer(
        MYSQLCLUSTERS,
        indexers={
            INDEX_MYCNF: field_index("spec.mysqlConfigMapName"),
            INDEX_BACKUP_POLICY: field_index("spec.backupPolicyName"),
        },
    )
    sts_inf = manager.informer(STATEFULSETS, label_selector=MOCO_SELECTOR)
    pods = manager.informer(PODS, label_selector=POD_SELECTOR)
    services_inf = manager.informer(SERVICES, label_selector=MOCO_SELECTOR)
    # the primary Services' slices, moco's and (until removed) Kubernetes': both carry the
    # Service's labels
    slices_inf = manager.informer(ENDPOINTSLICES, label_selector=MOCO_SELECTOR)
    primary_slices = PrimarySlices(
        client,
        slices=slices_inf.store,
        services=services_inf.store,
        pods=pods.store,
        clusters=clusters.store,
        timeout=cfg.api_timeout,
    )
    owned = [
        sts_inf,
        services_inf,
        manager.informer(SERVICEACCOUNTS, label_selector=MOCO_SELECTOR),
        manager.informer(PODDISRUPTIONBUDGETS, label_selector=MOCO_SELECTOR),
    ]
    cronjobs = manager.informer(CRONJOBS, label_selector=MOCO_SELECTOR)
    roles = manager.informer(ROLES, label_selector=MOCO_SELECTOR)
    rolebindings = manager.informer(ROLEBINDINGS, label_selector=MOCO_SELECTOR)
    # Deployments: the binlog archivers (moco.controllers.backuparchive)
    deployments = manager.informer(DEPLOYMENTS, label_selector=MOCO_SELECTOR)
    owned += [cronjobs, roles, rolebindings, deployments]
    owned.append(manager.informer(JOBS, label_selector=BACKUP_SELECTOR))
    policies = manager.informer(BACKUPPOLICIES)
    secrets_inf = manager.informer(SECRETS, label_selector=MOCO_SELECTOR)
    configmaps = manager.informer(CONFIGMAPS)

    registry: ClusterManager | None = None
    if enable_clustering:
        scope = manager.options.namespace
        system_secrets = (
            secrets_inf
            if scope is None or scope == cfg.system_namespace
            else manager.informer(SECRETS, namespace=cfg.system_namespace, label_selector=MOCO_SELECTOR)
        )
        source_secrets = SecretCache(client, timeout=cfg.api_timeout)

        def sides(namespace: str, name: str) -> tuple[KubeSide, CloneAgent]:
            side = ClusterKubeSide(
                client,
                clusters.store,
                pods.store,
                namespace,
                name,
                cfg.system_namespace,
                timeout=cfg.api_timeout,
                recorder=recorder,
                secrets=system_secrets.store,
                source_secrets=source_secrets,
                trust=agent_certs.mysql_trust,
                primary_slices=primary_slices,
            )
            return side, AgentCloneAgent(side, tls=agent_certs.client_context)

        registry = ClusterManager(sides, clustering)

    reconciler = MySQLClusterReconciler(
        client, clusters.store, cfg, clustering=registry, recorder=recorder, certs=agent_certs
    )

    async def cached_pod(name: str, namespace: str) -> Obj | None:
        return pods.store.get(f"{namespace}/{name}")

    rotator_cfg = RotatorConfig(cfg.system_namespace, api_timeout=cfg.api_timeout)
    reconciler.rotator = Rotator(
        client,
        rotator_cfg,
        PodDialer(
            cached_pod,
            connect_timeout=rotator_cfg.connect_timeout,
            query_timeout=rotator_cfg.query_timeout,
            trust=agent_certs.mysql_trust,
        ),
        token_hex=secrets.token_hex,
    )
    # the claims of the clusters' StatefulSets carry the selector's labels (read, never watched
    # for events: the reconciler plans claim growth from them)
    claims = manager.informer(PERSISTENTVOLUMECLAIMS, label_selector=POD_SELECTOR)
    reconciler.live = {inf.resource: inf.store for inf in (*owned, secrets_inf, configmaps, claims)}
    reconciler.primary_slices = primary_slices
    reconciler.jobs.policies = policies.store
    reconciler.jobs.cronjobs = cronjobs.store
    reconciler.jobs.roles = roles.store
    reconciler.jobs.rolebindings = rolebindings.store
    reconciler.jobs.deployments = deployments.store
    ctrl = Controller("mysqlcluster", reconciler.reconcile, workers=workers, reconcile_timeout=120.0)
    ctrl.watch(clusters)
    for inf in owned:
        ctrl.watch_owned(inf, "MySQLCluster", constants.GROUP)
    ctrl.watch(secrets_inf, enqueue_owner(ctrl.queue, "MySQLCluster", constants.GROUP))
    ctrl.watch(
        secrets_inf, enqueue_by_label(ctrl.queue, constants.LABEL_APP_INSTANCE, constants.LABEL_APP_NAMESPACE)
    )
    ctrl.watch(configmaps, enqueue_owner(ctrl.queue, "MySQLCluster", constants.GROUP))

    def user_configmap(cm: Obj) -> list[str]:
        meta = cm.get("metadata") or {}
        return [
            f"{c['metadata']['namespace']}/{c['metadata']['name']}"
            for c in clusters.store.by_index(INDEX_MYCNF, str(meta.get("name")))
            if c["metadata"].get("namespace") == meta.get("namespace")
        ]

    ctrl.watch(configmaps, enqueue_mapped(ctrl.queue, user_configmap))

    def policy_users(bp: Obj) -> list[str]:
        meta = bp.get("metadata") or {}
        return [
            f"{c['metadata']['namespace']}/{c['metadata']['name']}"
            for c in clusters.store.by_index(INDEX_BACKUP_POLICY, str(meta.get("name")))
            if c["metadata"].get("namespace") == meta.get("namespace")
        ]

    ctrl.watch(policies, enqueue_mapped(ctrl.queue, policy_users))
    manager.add_controller(ctrl)

    async def sync_primary_slice(key: str) -> Result | None:
        obj = clusters.store.get(key)
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return None
        namespace, name = key.split("/", 1)
        try:
            await primary_slices.sync(namespace, name)
        except kerr.Conflict:
            return Result(requeue=True)  # another writer came in between: look again
        return None

    sctrl = Controller("primaryslice", sync_primary_slice, workers=2, reconcile_timeout=30.0)
    sctrl.watch(clusters)
    sctrl.watch(services_inf, enqueue_owner(sctrl.queue, "MySQLCluster", constants.GROUP))
    sctrl.watch(pods, enqueue_by_label(sctrl.queue, constants.LABEL_APP_INSTANCE))
    sctrl.watch(slices_inf, enqueue_by_label(sctrl.queue, constants.LABEL_APP_INSTANCE))
    manager.add_controller(sctrl)

    part = PartitionReconciler(
        client,
        clusters.store,
        sts_inf.store,
        pods.store,
        recorder=recorder,
        update_interval=partition_update_interval,
    )
    pctrl = Controller("partition", part.reconcile, workers=1, reconcile_timeout=60.0)
    pctrl.watch(sts_inf)
    pctrl.watch_owned(pods, "StatefulSet", "apps")
    manager.add_controller(pctrl)

    if registry is not None:
        reg = registry

        def wake(obj: Obj) -> None:
            meta = obj.get("metadata") or {}
            name = (meta.get("labels") or {}).get(constants.LABEL_APP_INSTANCE)
            if name:
                reg.wake(str(meta.get("namespace")), str(name))

        pods.add_event_handler(
            FuncHandler(
                add=wake, update=lambda old, new: wake(new) if _pod_matters(old, new) else None, delete=wake
            )
        )

        async def run_clustering() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await reg.stop_all()

        manager.add_runnable(run_clustering, name="clustering", leader_only=True)

    return Wiring(reconciler, part, registry, (ctrl, pctrl, sctrl))
