"""The continuous binlog archiver of a cluster: one Deployment beside its backup CronJob (pure).

Beyond MOCO (whose restore point can only reach the last backup), a cluster whose BackupPolicy
opts in gets ``moco-binlog-archive-<name>``: one Pod running ``moco-backup archive [bucket
flags] BUCKET NAMESPACE NAME`` (:mod:`moco.backup.archiver`), which follows the cluster's current
primary (it reads ``status.currentPrimaryIndex`` on every pass, so it moves with switchovers and
failovers) and ships its binlogs to the policy's bucket every few seconds, where a restore past
the last backup finds them.

Rules (tests are named after them):

1. **Opt-in, on the BackupPolicy**: the annotation :data:`ANN_BINLOG_ARCHIVE` set to ``"true"``
   on the BackupPolicy named by ``spec.backupPolicyName``. MOCO's API has no field for it, and a
   MOCO manifest must mean here what it means there: no long-running Pod, no continuous bucket
   writes and no extra binlog reader on the primary that its author did not ask for. The policy
   is where the bucket and its credentials are, and one annotation there covers every cluster
   that names it. Any other value (or none) means off.
2. **Exists exactly while wanted**: with the policy named and annotated the Deployment is applied;
   without the name, with another value, or when the policy loses its annotation, it is deleted.
   Owned by the cluster: deleting the cluster deletes it (garbage collection).
3. **Never two followers**: one replica, strategy ``Recreate`` (the old Pod is gone before the new
   one starts: two archivers of one cluster would write the same ``state.json``).
4. **The policy's jobConfig, as the backup Job has it**: ServiceAccount (bound to the backup's
   Role ``moco-backup-<name>``, which grants what the archiver needs: get of the cluster, Pods,
   Events), image, bucket flags, env/envFrom, volumes and mounts, affinity; ``MYSQL_PASSWORD`` is
   the backup user's (REPLICATION SLAVE serves the binlog stream).
5. **Its own work volume and resources**: an ``emptyDir`` at ``/work`` whatever ``workVolume``
   says (the archiver keeps only the binlog file being followed, and a claim shared with the
   backup Jobs could pin them to its node), and :data:`ARCHIVER_REQUESTS` (a follower, not a
   dump: ``jobConfig.cpu``/``memory`` size the backup and default to 4 CPUs); ``maxCpu`` and
   ``maxMemory`` are its limits, as for the Jobs.
"""

from __future__ import annotations

import copy
from typing import Final

from moco import constants
from moco.api import BackupPolicy, MySQLCluster
from moco.controllers.backup import (
    ENV_MYSQL_PASSWORD,
    WORK_PATH,
    WORK_VOLUME,
    bucket_args,
)
from moco.controllers.common import Obj, owner_reference
from moco.controllers.podsecurity import DEFAULT_SECURITY, SecurityDefaults, container_context, pod_context

#: The BackupPolicy annotation that turns the archiver on (rule 1).
ANN_BINLOG_ARCHIVE: Final = f"{constants.GROUP}/binlog-archive"
ARCHIVE_SUBCOMMAND: Final = "archive"
ARCHIVER_CONTAINER: Final = "archiver"
#: ``app.kubernetes.io/name`` of the archiver and its Pod (not ``mysql-backup``: the backup
#: Pods' default anti-affinity and selectors are about the Jobs only).
APP_NAME_ARCHIVE: Final = "mysql-binlog-archive"
#: What the follower asks for (rule 5): mysqlbinlog plus a Python process uploading a few
#: segments every interval; measured ~70 MiB resident, a few % of a core under steady writes.
ARCHIVER_REQUESTS: Final = {"cpu": "50m", "memory": "128Mi"}
#: Seconds between two uploads: the recovery point trails the primary by about this plus one
#: upload (the program's own default, written out so the Pod spec says it).
ARCHIVE_INTERVAL: Final = 5


def archiver_name(cluster: str) -> str:
    return f"moco-binlog-archive-{cluster}"


def wants_archiver(policy: BackupPolicy | None) -> bool:
    """Rule 1: the named policy carries ``moco.cybozu.com/binlog-archive: "true"``."""
    if policy is None:
        return False
    annotations = policy.metadata.get("annotations") or {}
    return str(annotations.get(ANN_BINLOG_ARCHIVE, "")).strip().lower() == "true"


def archiver_labels(cluster: MySQLCluster) -> dict[str, str]:
    return {
        constants.LABEL_APP_NAME: APP_NAME_ARCHIVE,
        constants.LABEL_APP_INSTANCE: cluster.name,
        constants.LABEL_APP_CREATED_BY: constants.APP_CREATOR,
    }


def archive_args(cluster: MySQLCluster, policy: BackupPolicy) -> list[str]:
    """``archive --interval=S [bucket flags] BUCKET NAMESPACE NAME``."""
    return [
        ARCHIVE_SUBCOMMAND,
        f"--interval={ARCHIVE_INTERVAL}",
        *bucket_args(policy.spec.job_config.bucket_config),
        cluster.namespace,
        cluster.name,
    ]


def _resources(policy: BackupPolicy, with_resources: bool) -> Obj:
    if not with_resources:
        return {}
    jc = policy.spec.job_config
    out: Obj = {"requests": dict(ARCHIVER_REQUESTS)}
    limits = {k: str(v) for k, v in (("cpu", jc.max_cpu), ("memory", jc.max_memory)) if v is not None}
    if limits:
        out["limits"] = limits
    return out


def archiver_deployment(
    cluster: MySQLCluster,
    policy: BackupPolicy,
    image: str,
    *,
    job_resources: bool = True,
    security: SecurityDefaults = DEFAULT_SECURITY,
) -> Obj:
    """The Deployment ``moco-binlog-archive-<name>`` (module docstring, rules 3-5)."""
    jc = policy.spec.job_config
    labels = archiver_labels(cluster)
    container: Obj = {
        "name": ARCHIVER_CONTAINER,
        "image": image,
        "args": archive_args(cluster, policy),
        "env": [
            {
                "name": ENV_MYSQL_PASSWORD,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": cluster.user_secret_name(),
                        "key": constants.PASSWORD_KEYS[constants.BACKUP_USER],
                    }
                },
            },
            *copy.deepcopy(jc.env or []),
        ],
        "volumeMounts": [
            {"name": WORK_VOLUME, "mountPath": WORK_PATH},
            *copy.deepcopy(jc.volume_mounts or []),
        ],
        # restricted Pod Security (moco.controllers.podsecurity), as MOCO's uid 10000
        "securityContext": container_context({"readOnlyRootFilesystem": True}, security),
        "resources": _resources(policy, job_resources),
    }
    if jc.env_from:
        container["envFrom"] = copy.deepcopy(jc.env_from)
    pod_spec: Obj = {
        "serviceAccountName": jc.service_account_name,
        "containers": [container],
        "volumes": [{"name": WORK_VOLUME, "emptyDir": {}}, *copy.deepcopy(jc.volumes or [])],
        "securityContext": pod_context(None, security),
    }
    if jc.affinity:
        pod_spec["affinity"] = copy.deepcopy(jc.affinity)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": archiver_name(cluster.name),
            "namespace": cluster.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(cluster)],
        },
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


__all__ = [
    "ANN_BINLOG_ARCHIVE",
    "APP_NAME_ARCHIVE",
    "ARCHIVER_REQUESTS",
    "archive_args",
    "archiver_deployment",
    "archiver_name",
    "wants_archiver",
]
