"""The reconciler's backup and restore step: apply, delete and watch over what :mod:`.backup` renders.

Level-based, one call per reconcile of a MySQLCluster (MOCO's reconcileV1BackupJob and
reconcileV1RestoreJob):

* backup: with ``spec.backupPolicyName`` the CronJob, Role and RoleBinding are server-side
  applied (field manager ``moco-controller``, owned by the cluster) from the BackupPolicy read
  from the informer cache, so a policy change re-renders every CronJob that names it (the
  controller watches BackupPolicies). A policy that does not exist fails the step with
  :class:`BackupPolicyNotFound` (``ReconcileSuccess=False`` and a Warning Event naming it);
  the objects already there are left as they are. Without the name the three are deleted.
* archiver (beyond MOCO): with the policy annotated ``moco.cybozu.com/binlog-archive: "true"``
  the Deployment ``moco-binlog-archive-<name>`` is applied beside the CronJob (it runs as the
  policy's ServiceAccount, bound by the same Role); otherwise it is deleted
  (:mod:`.backuparchive`).
* restore: while ``spec.restore`` is set and ``status.restoredTime`` is not, the Role and
  RoleBinding are applied and the Job is created when it does not exist. The Job is never
  re-applied (a Job's template is immutable) and never deleted by moco: a failed Job stays, so
  its Pod's log can be read, and the cluster stays ``Restoring`` (read-only); when the user
  deletes it, the next reconcile (the controller watches the Jobs it owns) creates it again.
  The condition :data:`COND_RESTORED` says where the restore is, and a ``RestoreFailed``
  Warning Event tells a failed Job once, with the program's own error when it wrote one on
  its Job (annotation ``moco.cybozu.com/restore-error``: a refused credential, a restore
  point past what the bucket holds) before the Job's reason. ``status.restoredTime`` and the
  ``Restored`` Event are the restore program's (as in MOCO). Once restoredTime is set nothing
  is touched: the Job, Role and RoleBinding stay until the cluster is deleted (as MOCO).

Every API call has the reconciler's timeout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from moco import constants
from moco.api import BackupPolicy, InvalidObject, MySQLCluster, names
from moco.clustering.interfaces import Condition
from moco.controllers import backup, backuparchive
from moco.controllers.common import Obj
from moco.controllers.errors import ControllerError, InvalidSpec
from moco.controllers.podsecurity import DEFAULT_SECURITY, SecurityDefaults
from moco.kube.resource import CRONJOBS, DEPLOYMENTS, JOBS, ROLEBINDINGS, ROLES, Resource
from moco.kube.store import Store
from moco.log import get_logger

log = get_logger("moco.controllers.backupjobs")

BACKUPPOLICIES: Final = Resource(constants.GROUP, constants.VERSION, "backuppolicies", "BackupPolicy")

#: Condition of MySQLCluster.status while ``spec.restore`` is set.
COND_RESTORED: Final = "Restored"
EV_RESTORE_FAILED: Final = "RestoreFailed"
EV_RESTORE_JOB_CREATED: Final = "RestoreJobCreated"
#: Reasons of :data:`COND_RESTORED`.
REASON_RESTORED: Final = "Restored"
REASON_RUNNING: Final = "RestoreJobRunning"
REASON_FAILED: Final = "RestoreJobFailed"
REASON_WAITING: Final = "RestoreJobSucceeded"


class BackupPolicyNotFound(ControllerError):
    """``spec.backupPolicyName`` names no BackupPolicy of the cluster's namespace."""

    reason = "BackupPolicyNotFound"


Get = Callable[[Resource, str, str | None], Awaitable[Obj | None]]
Apply = Callable[[Resource, Obj], Awaitable[Obj]]
Delete = Callable[[Resource, str, str | None], Awaitable[bool]]
Events = list[tuple[str, str, str]]


def job_state(job: Obj) -> tuple[str, str]:
    """``("failed"|"succeeded"|"running", message)`` of a Job from its conditions (pure)."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("status") != "True":
            continue
        if c.get("type") == "Failed":
            why = c.get("message") or c.get("reason") or "failed"
            return "failed", str(why)
        if c.get("type") == "Complete":
            return "succeeded", ""
    return "running", ""


def restore_condition(cluster: MySQLCluster, job: Obj | None) -> Condition | None:
    """:data:`COND_RESTORED` for the cluster and its restore Job (None without ``spec.restore``)."""
    restore = cluster.spec.restore
    if restore is None:
        return None
    status = cluster.status
    source = f"{restore.source_namespace}/{restore.source_name}"
    if status is not None and status.restored_time:
        return Condition(
            COND_RESTORED,
            True,
            REASON_RESTORED,
            f"restored from {source} at {restore.restore_point} (restoredTime {status.restored_time})",
        )
    name = cluster.restore_job_name()
    if job is None:
        return Condition(COND_RESTORED, False, REASON_RUNNING, f"Job {name} is being created")
    state, why = job_state(job)
    if state == "failed":
        note = ((job.get("metadata") or {}).get("annotations") or {}).get(constants.ANN_RESTORE_ERROR)
        why = f"{note} ({why})" if note else why
        return Condition(
            COND_RESTORED,
            False,
            REASON_FAILED,
            f"Job {name} failed: {why}; the cluster stays read-only. Fix the cause and delete "
            f"the Job to restore again",
        )
    if state == "succeeded":
        return Condition(
            COND_RESTORED, False, REASON_WAITING, f"Job {name} succeeded; waiting for status.restoredTime"
        )
    return Condition(COND_RESTORED, False, REASON_RUNNING, f"Job {name} restores from {source}")


def transition_events(cluster: MySQLCluster, cond: Condition | None, job: Obj | None) -> Events:
    """The Events of a change of :data:`COND_RESTORED` (the condition as the cache holds it is
    the memory: a failure is told once, also across controller restarts). ``Restored`` is told by
    the restore program itself."""
    if cond is None:
        return []
    old = cluster.status.condition(COND_RESTORED) if cluster.status is not None else None
    if old is not None and old.reason == cond.reason:
        return []
    if cond.reason == REASON_FAILED:
        return [("Warning", EV_RESTORE_FAILED, cond.message)]
    return []


@dataclass
class BackupJobs:
    """The step, over the reconciler's API helpers and the informer caches it may read."""

    get: Get
    apply: Apply
    delete: Delete
    image: str
    #: cpu/memory of the Jobs' Pods from jobConfig (False: none, see backup.backup_cronjob)
    job_resources: bool = True
    #: what moco fills in the Pods' security contexts (``--disable-default-security-context``)
    security: SecurityDefaults = DEFAULT_SECURITY
    #: BackupPolicies (None: read with a GET)
    policies: Store | None = None
    #: the caches of moco's CronJobs, Roles and RoleBindings (None: delete without looking)
    cronjobs: Store | None = None
    roles: Store | None = None
    rolebindings: Store | None = None
    #: the cache of moco's Deployments (the archivers; None: delete without looking)
    deployments: Store | None = None

    async def reconcile(self, cluster: MySQLCluster, events: Events) -> Condition | None:
        """Both parts; the first error is raised after both ran. Returns :data:`COND_RESTORED`."""
        error: Exception | None = None
        try:
            await self.reconcile_backup(cluster)
        except Exception as e:  # re-raised below, after the restore part
            error = e
        cond = await self.reconcile_restore(cluster, events)
        if error is not None:
            raise error
        return cond

    async def _policy(self, cluster: MySQLCluster, name: str) -> BackupPolicy:
        key = f"{cluster.namespace}/{name}"
        obj = self.policies.get(key) if self.policies is not None else None
        if obj is None:
            obj = await self.get(BACKUPPOLICIES, name, cluster.namespace)
        if obj is None:
            raise BackupPolicyNotFound(
                f"BackupPolicy {key} (spec.backupPolicyName) not found: no backup CronJob is made"
            )
        try:
            return BackupPolicy.parse(obj)
        except InvalidObject as e:
            raise InvalidSpec(f"BackupPolicy {key}: {e}") from e

    async def _delete_known(
        self, cluster: MySQLCluster, res: Resource, obj_name: str, cache: Store | None
    ) -> None:
        """Delete ``obj_name`` unless the cache says it is not there (no DELETE per reconcile)."""
        ns = cluster.namespace
        known = cache is None or cache.get(f"{ns}/{obj_name}") is not None
        if known and await self.delete(res, obj_name, ns):
            log.info("backup object deleted", cluster=cluster.name, namespace=ns, object=obj_name)

    async def reconcile_backup(self, cluster: MySQLCluster) -> None:
        cron, role = cluster.backup_cronjob_name(), names.backup_role_name(cluster.name)
        archiver = backuparchive.archiver_name(cluster.name)
        name = cluster.spec.backup_policy_name
        if not name:
            for res, obj_name, cache in (
                (DEPLOYMENTS, archiver, self.deployments),
                (CRONJOBS, cron, self.cronjobs),
                (ROLEBINDINGS, role, self.rolebindings),
                (ROLES, role, self.roles),
            ):
                await self._delete_known(cluster, res, obj_name, cache)
            return
        policy = await self._policy(cluster, name)
        await self.apply(
            CRONJOBS,
            backup.backup_cronjob(
                cluster, policy, self.image, job_resources=self.job_resources, security=self.security
            ),
        )
        await self.apply(ROLES, backup.backup_role(cluster))
        sa = policy.spec.job_config.service_account_name
        await self.apply(ROLEBINDINGS, backup.role_binding(cluster, role, sa))
        if backuparchive.wants_archiver(policy):
            await self.apply(
                DEPLOYMENTS,
                backuparchive.archiver_deployment(
                    cluster, policy, self.image, job_resources=self.job_resources, security=self.security
                ),
            )
        else:
            await self._delete_known(cluster, DEPLOYMENTS, archiver, self.deployments)

    async def reconcile_restore(self, cluster: MySQLCluster, events: Events) -> Condition | None:
        restore = cluster.spec.restore
        if restore is None:
            return None
        ns = cluster.namespace
        job: Obj | None = None
        if not (cluster.status is not None and cluster.status.restored_time):
            # the rights first: the program reads the cluster as soon as its Pod starts
            role = names.restore_role_name(cluster.name)
            await self.apply(ROLES, backup.restore_role(cluster))
            sa = restore.job_config.service_account_name
            await self.apply(ROLEBINDINGS, backup.role_binding(cluster, role, sa))
            job = await self.get(JOBS, cluster.restore_job_name(), ns)
            if job is None:
                job = await self.apply(
                    JOBS,
                    backup.restore_job(
                        cluster, self.image, job_resources=self.job_resources, security=self.security
                    ),
                )
                events.append(("Normal", EV_RESTORE_JOB_CREATED, f"Job {cluster.restore_job_name()} created"))
                log.info("restore job created", cluster=cluster.name, namespace=ns)
        cond = restore_condition(cluster, job)
        events.extend(transition_events(cluster, cond, job))
        return cond
