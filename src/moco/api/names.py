"""Names of the objects moco derives from a MySQLCluster, spelled exactly as MOCO spells them.

A cluster ``test`` in namespace ``ns`` owns StatefulSet ``moco-test``, Pods ``moco-test-0..``,
Services ``moco-test`` (headless), ``moco-test-primary`` and ``moco-test-replica``, Secret
``moco-test`` (user passwords) and, in the controller's namespace, Secret ``mysql-ns.test``.
Pure functions of (namespace, name); nothing here does I/O.

The cluster name is at most :data:`MAX_CLUSTER_NAME_LENGTH` characters: StatefulSet names
longer than 52 characters break Pod labels (the controller-revision-hash label adds 11), and the
longest prefix, ``moco-backup-`` of the backup CronJob, takes 12 of them.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "moco-"
MAX_CLUSTER_NAME_LENGTH: Final = 40


def prefixed_name(name: str) -> str:
    """``moco-<name>``: the StatefulSet and the headless Service."""
    return PREFIX + name


def pod_name(name: str, index: int) -> str:
    """``moco-<name>-<index>``."""
    return f"{prefixed_name(name)}-{index}"


def headless_service_name(name: str) -> str:
    """The Service governing the StatefulSet (``moco-<name>``)."""
    return prefixed_name(name)


def primary_service_name(name: str) -> str:
    """``moco-<name>-primary``: follows the primary."""
    return prefixed_name(name) + "-primary"


def replica_service_name(name: str) -> str:
    """``moco-<name>-replica``: the replicas."""
    return prefixed_name(name) + "-replica"


def pod_hostname(namespace: str, name: str, index: int) -> str:
    """``moco-<name>-<i>.moco-<name>.<namespace>.svc``."""
    return f"{pod_name(name, index)}.{headless_service_name(name)}.{namespace}.svc"


def user_secret_name(name: str) -> str:
    """The Secret with the user passwords, in the cluster's namespace (``moco-<name>``)."""
    return PREFIX + name


def mycnf_secret_name(name: str) -> str:
    """The Secret with the passwords as my.cnf files (``moco-my-cnf-<name>``)."""
    return "moco-my-cnf-" + name


def controller_secret_name(namespace: str, name: str) -> str:
    """The Secret with the passwords, in the controller's namespace (``mysql-<ns>.<name>``)."""
    return f"mysql-{namespace}.{name}"


def mycnf_configmap_prefix(name: str) -> str:
    """Prefix of the generated my.cnf ConfigMap, ``moco-<name>.``; a hash of the content follows."""
    return prefixed_name(name) + "."


def slow_log_agent_configmap_name(name: str) -> str:
    """``moco-slow-log-agent-config-<name>``."""
    return "moco-slow-log-agent-config-" + name


def certificate_name(namespace: str, name: str) -> str:
    """The agent's gRPC Certificate (and Secret) in the controller's namespace."""
    return f"moco-agent-{namespace}.{name}"


def grpc_secret_name(name: str) -> str:
    """The agent's TLS Secret in the cluster's namespace (``moco-<name>-grpc``)."""
    return prefixed_name(name) + "-grpc"


def backup_cronjob_name(name: str) -> str:
    """``moco-backup-<name>``."""
    return "moco-backup-" + name


def backup_role_name(name: str) -> str:
    """Role/RoleBinding of the backup job (``moco-backup-<name>``)."""
    return "moco-backup-" + name


def restore_job_name(name: str) -> str:
    """``moco-restore-<name>``."""
    return "moco-restore-" + name


def restore_role_name(name: str) -> str:
    """Role/RoleBinding of the restore job (``moco-restore-<name>``)."""
    return "moco-restore-" + name
