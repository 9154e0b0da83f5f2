"""The backup CronJob, the restore Job and their RBAC, rendered from the API (pure).

MOCO's shapes, so that ``kubectl get cronjob moco-backup-<name> -o yaml`` reads the same:

* ``spec.backupPolicyName`` -> CronJob ``moco-backup-<name>`` whose Pod runs ``moco-backup
  backup --threads=N [bucket flags] BUCKET NAMESPACE NAME`` with the BackupPolicy's schedule,
  time zone, starting deadline, concurrency policy and history limits on the CronJob, its
  ``activeDeadlineSeconds`` and ``backoffLimit`` on the Job template, and its ``jobConfig`` on
  the Pod (service account, work volume at ``/work``, env/envFrom, volumes and mounts, cpu and
  memory as requests, maxCpu/maxMemory as limits, affinity: a preferred anti-affinity between
  backup Pods when none is given);
* ``spec.restore`` -> Job ``moco-restore-<name>`` (never retried by the Job controller:
  ``backoffLimit: 0``) running ``moco-backup restore --threads=N [bucket flags] BUCKET
  SOURCE_NAMESPACE SOURCE_NAME NAMESPACE NAME YYYYMMDD-hhmmss SCHEMA USERS``;
* a Role and a RoleBinding of the same names, granting the Job's ServiceAccount what the
  program needs: get/update of this MySQLCluster and its status (the backup writes
  ``status.backup``, the restore ``status.restoredTime``), Pods (to find the source or the
  target) and Events.

The password comes from the cluster's user Secret (``moco-<name>``) as ``MYSQL_PASSWORD``: the
backup user's for a backup, the admin's for a restore (it writes to an empty primary). The
restore Pod also gets ``POD_IP`` and every password of the Secret under its key
(:func:`restore_env`), which moco's restore program needs and MOCO's does not.

The bucket flags follow the program's global flags (:func:`bucket_args`); ``caCert`` is passed
as ``--ca-cert-file-path``, the name of the flag that ``moco-backup`` (MOCO's and ours) reads, and
``usePathStyle`` as ``--use-path-style=true`` (both programs read that form).

Everything here is a function of the models and the image; nothing does I/O.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any, Final

from moco import constants
from moco.api import BackupPolicy, BucketConfig, JobConfig, MySQLCluster, RestoreSpec, names
from moco.api.job import DEFAULT_THREADS
from moco.controllers.common import Obj, owner_reference
from moco.controllers.errors import InvalidSpec
from moco.controllers.podsecurity import DEFAULT_SECURITY, SecurityDefaults, container_context, pod_context

BACKUP_CONTAINER: Final = "backup"
RESTORE_CONTAINER: Final = "restore"
BACKUP_SUBCOMMAND: Final = "backup"
RESTORE_SUBCOMMAND: Final = "restore"
WORK_VOLUME: Final = "work"
WORK_PATH: Final = "/work"
ENV_MYSQL_PASSWORD: Final = "MYSQL_PASSWORD"
ENV_POD_IP: Final = "POD_IP"
#: How the program names a backup (and a restore point): UTC, second precision.
BACKUP_TIME_FORMAT: Final = "%Y%m%d-%H%M%S"
RBAC_GROUP: Final = "rbac.authorization.k8s.io"


def job_labels(cluster: MySQLCluster) -> dict[str, str]:
    """MOCO's labels of the backup/restore objects and their Pods (``name: mysql-backup``)."""
    return {
        constants.LABEL_APP_NAME: constants.APP_NAME_BACKUP,
        constants.LABEL_APP_INSTANCE: cluster.name,
        constants.LABEL_APP_CREATED_BY: constants.APP_CREATOR,
    }


def _meta(cluster: MySQLCluster, name: str) -> Obj:
    return {
        "name": name,
        "namespace": cluster.namespace,
        "labels": job_labels(cluster),
        "ownerReferences": [owner_reference(cluster)],
    }


def bucket_args(bc: BucketConfig) -> list[str]:
    """The global flags that say how to reach the bucket, then the bucket's name."""
    args: list[str] = []
    if bc.region:
        args.append(f"--region={bc.region}")
    if bc.endpoint_url:
        args.append(f"--endpoint={bc.endpoint_url}")
    if bc.use_path_style:
        # with its value: a bare flag followed by the bucket could take the bucket for its value
        args.append("--use-path-style=true")
    if bc.backend_type:
        args.append(f"--backend-type={bc.backend_type}")
    if bc.ca_cert:
        args.append(f"--ca-cert-file-path={bc.ca_cert}")
    args.append(bc.bucket_name)
    return args


def restore_point_arg(restore_point: str) -> str:
    """``restorePoint`` (RFC 3339, any offset) as the program's ``YYYYMMDD-hhmmss`` in UTC.

    Fractions of a second are dropped, as MOCO's formatting drops them.
    """
    text = restore_point.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        t = datetime.datetime.fromisoformat(text)
    except ValueError as e:
        raise InvalidSpec(f"spec.restore.restorePoint {restore_point!r} is not an RFC 3339 time") from e
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.UTC)
    return t.astimezone(datetime.UTC).strftime(BACKUP_TIME_FORMAT)


def _quantity(value: Any) -> str:
    return str(value)


def resources(jc: JobConfig) -> Obj:
    """``cpu``/``memory`` as requests, ``maxCpu``/``maxMemory`` as limits (absent ones left out)."""
    out: Obj = {}
    requests = {k: _quantity(v) for k, v in (("cpu", jc.cpu), ("memory", jc.memory)) if v is not None}
    limits = {k: _quantity(v) for k, v in (("cpu", jc.max_cpu), ("memory", jc.max_memory)) if v is not None}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _password_env(cluster: MySQLCluster, user: str) -> Obj:
    return {
        "name": ENV_MYSQL_PASSWORD,
        "valueFrom": {
            "secretKeyRef": {"name": cluster.user_secret_name(), "key": constants.PASSWORD_KEYS[user]}
        },
    }


def _container(
    cluster: MySQLCluster,
    jc: JobConfig,
    name: str,
    image: str,
    args: list[str],
    user: str,
    with_resources: bool,
    security: SecurityDefaults,
) -> Obj:
    c: Obj = {
        "name": name,
        "image": image,
        "args": args,
        "env": [_password_env(cluster, user), *copy.deepcopy(jc.env or [])],
        "volumeMounts": [
            {"name": WORK_VOLUME, "mountPath": WORK_PATH},
            *copy.deepcopy(jc.volume_mounts or []),
        ],
        # restricted Pod Security (moco.controllers.podsecurity), as MOCO's uid 10000
        "securityContext": container_context({"readOnlyRootFilesystem": True}, security),
        "resources": resources(jc) if with_resources else {},
    }
    if jc.env_from:
        c["envFrom"] = copy.deepcopy(jc.env_from)
    return c


def _volumes(jc: JobConfig) -> list[Obj]:
    work = {**copy.deepcopy(jc.work_volume), "name": WORK_VOLUME}
    return [work, *copy.deepcopy(jc.volumes or [])]


def _pod_spec(jc: JobConfig, container: Obj, security: SecurityDefaults) -> Obj:
    return {
        "restartPolicy": "Never",
        "serviceAccountName": jc.service_account_name,
        "volumes": _volumes(jc),
        "containers": [container],
        "securityContext": pod_context(None, security),
    }


def default_backup_affinity() -> Obj:
    """Backup Pods prefer different nodes (MOCO's default when ``jobConfig.affinity`` is unset)."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {
                            "matchExpressions": [
                                {
                                    "key": constants.LABEL_APP_NAME,
                                    "operator": "In",
                                    "values": [constants.APP_NAME_BACKUP],
                                },
                                {
                                    "key": constants.LABEL_APP_CREATED_BY,
                                    "operator": "In",
                                    "values": [constants.APP_CREATOR],
                                },
                            ]
                        },
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }


def backup_args(cluster: MySQLCluster, jc: JobConfig) -> list[str]:
    """``backup --threads=N [bucket flags] BUCKET NAMESPACE NAME``."""
    threads = jc.threads or DEFAULT_THREADS
    return [
        BACKUP_SUBCOMMAND,
        f"--threads={threads}",
        *bucket_args(jc.bucket_config),
        cluster.namespace,
        cluster.name,
    ]


def backup_cronjob(
    cluster: MySQLCluster,
    policy: BackupPolicy,
    image: str,
    *,
    job_resources: bool = True,
    security: SecurityDefaults = DEFAULT_SECURITY,
) -> Obj:
    """The CronJob ``moco-backup-<name>`` for ``policy`` (see the module docstring).

    ``job_resources=False`` leaves cpu and memory out (MOCO's ``TEST_NO_JOB_RESOURCE``: the CRD
    defaults ask for 4 CPUs, more than a small test node has); ``security`` is what
    ``--disable-default-security-context`` leaves to the platform."""
    bp = policy.spec
    jc = bp.job_config
    container = _container(
        cluster,
        jc,
        BACKUP_CONTAINER,
        image,
        backup_args(cluster, jc),
        constants.BACKUP_USER,
        job_resources,
        security,
    )
    pod_spec = _pod_spec(jc, container, security)
    pod_spec["affinity"] = copy.deepcopy(jc.affinity) if jc.affinity else default_backup_affinity()
    job_spec: Obj = {"template": {"metadata": {"labels": job_labels(cluster)}, "spec": pod_spec}}
    if bp.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = bp.active_deadline_seconds
    if bp.backoff_limit is not None:
        job_spec["backoffLimit"] = bp.backoff_limit
    spec: Obj = {
        "schedule": bp.schedule,
        "concurrencyPolicy": bp.concurrency_policy or "Allow",
        "jobTemplate": {"metadata": {"labels": job_labels(cluster)}, "spec": job_spec},
    }
    optional = {
        "startingDeadlineSeconds": bp.starting_deadline_seconds,
        "successfulJobsHistoryLimit": bp.successful_jobs_history_limit,
        "failedJobsHistoryLimit": bp.failed_jobs_history_limit,
        "timeZone": bp.time_zone,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(cluster, cluster.backup_cronjob_name()),
        "spec": spec,
    }


def restore_args(cluster: MySQLCluster, restore: RestoreSpec) -> list[str]:
    """``restore --threads=N [bucket flags] BUCKET SRC_NS SRC NS NAME YYYYMMDD-hhmmss SCHEMA USERS``."""
    jc = restore.job_config
    return [
        RESTORE_SUBCOMMAND,
        f"--threads={jc.threads or DEFAULT_THREADS}",
        *bucket_args(jc.bucket_config),
        restore.source_namespace,
        restore.source_name,
        cluster.namespace,
        cluster.name,
        restore_point_arg(restore.restore_point),
        restore.schema_ or "",
        restore.users or "",
    ]


def restore_job(
    cluster: MySQLCluster,
    image: str,
    *,
    job_resources: bool = True,
    security: SecurityDefaults = DEFAULT_SECURITY,
) -> Obj:
    """The Job ``moco-restore-<name>`` (raises InvalidSpec without ``spec.restore``).

    The user's affinity is honoured when given (MOCO sets none on the restore Pod);
    ``job_resources`` as for :func:`backup_cronjob`.
    """
    restore = cluster.spec.restore
    if restore is None:
        raise InvalidSpec("spec.restore is not set")
    jc = restore.job_config
    container = _container(
        cluster,
        jc,
        RESTORE_CONTAINER,
        image,
        restore_args(cluster, restore),
        constants.ADMIN_USER,
        job_resources,
        security,
    )
    container["env"][1:1] = restore_env(cluster)
    pod_spec = _pod_spec(jc, container, security)
    if jc.affinity:
        pod_spec["affinity"] = copy.deepcopy(jc.affinity)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(cluster, cluster.restore_job_name()),
        "spec": {
            "backoffLimit": 0,
            "template": {"metadata": {"labels": job_labels(cluster)}, "spec": pod_spec},
        },
    }


def restore_env(cluster: MySQLCluster) -> list[Obj]:
    """What moco's restore program reads beyond MOCO's: the Pod's IP (the target's primary clones
    the restored copy from a server in this Pod) and every user's password of the target cluster
    under the Secret's keys (a copy carries the source's users: they are given the target's
    passwords before the target takes it), so its Role needs no access to Secrets."""
    env: list[Obj] = [
        {"name": ENV_POD_IP, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}
    ]
    for key in sorted(constants.PASSWORD_KEYS.values()):
        env.append(
            {"name": key, "valueFrom": {"secretKeyRef": {"name": cluster.user_secret_name(), "key": key}}}
        )
    return env


def _cluster_rule(cluster: MySQLCluster) -> Obj:
    return {
        "apiGroups": [constants.GROUP],
        "resources": ["mysqlclusters", "mysqlclusters/status"],
        "verbs": ["get", "update"],
        "resourceNames": [cluster.name],
    }


def backup_role(cluster: MySQLCluster) -> Obj:
    """What the backup program may do: its cluster and status, read Pods, write Events."""
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "Role",
        "metadata": _meta(cluster, names.backup_role_name(cluster.name)),
        "rules": [
            _cluster_rule(cluster),
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "update", "patch"]},
        ],
    }


def restore_role(cluster: MySQLCluster) -> Obj:
    """What the restore program may do: its cluster and status, get Pods, create Events, and
    write why it failed on its own Job (no other: ``resourceNames``)."""
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "Role",
        "metadata": _meta(cluster, names.restore_role_name(cluster.name)),
        "rules": [
            _cluster_rule(cluster),
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
            {
                "apiGroups": ["batch"],
                "resources": ["jobs"],
                "verbs": ["get", "patch"],
                "resourceNames": [cluster.restore_job_name()],
            },
        ],
    }


def role_binding(cluster: MySQLCluster, name: str, service_account: str) -> Obj:
    """Binds the Role ``name`` to the Job's ServiceAccount in the cluster's namespace."""
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": _meta(cluster, name),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": cluster.namespace}],
    }
