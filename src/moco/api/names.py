"""Names of the objects derived from a MySQLCluster, spelled exactly as MOCO spells them.

What the controller creates today, for a cluster ``test`` in namespace ``ns``: StatefulSet
``moco-test``, Pods ``moco-test-0..``, Services ``moco-test`` (headless), ``moco-test-primary``
and ``moco-test-replica``, Secrets ``moco-test`` (user passwords) and ``moco-my-cnf-test``,
ConfigMaps ``moco-test.<hash>`` (my.cnf) and, in the controller's namespace, Secret
``mysql-ns.test``.

The backup CronJob ``moco-backup-<name>``, the restore Job ``moco-restore-<name>`` and their
Roles/RoleBindings (same names) are made by :mod:`moco.controllers.backupjobs`. The agent's
certificate and TLS Secret are MOCO's names for objects moco does not create yet; they are here
so that the feature, when it comes, uses MOCO's names, and the length limit below already
accounts for them. Pure functions of (namespace, name); nothing here does I/O.

The cluster name is at most :data:`MAX_CLUSTER_NAME_LENGTH` characters (MOCO's limit):
StatefulSet names longer than 52 characters break Pod labels (the controller-revision-hash
label adds 11), and MOCO's longest prefix, ``moco-backup-`` of the backup CronJob, takes 12.
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
    """MOCO's ``moco-slow-log-agent-config-<name>``; moco's slow-log ConfigMap adds ``.<hash>`` of
    its content to it (:mod:`moco.controllers.configmaps`), like the my.cnf ConfigMap."""
    return "moco-slow-log-agent-config-" + name


def certificate_name(namespace: str, name: str) -> str:
    """MOCO's name for the agent's gRPC Certificate (and Secret) in the controller's namespace.
    Not created by moco yet: its agent API does not use TLS so far."""
    return f"moco-agent-{namespace}.{name}"


def grpc_secret_name(name: str) -> str:
    """MOCO's agent TLS Secret in the cluster's namespace (``moco-<name>-grpc``); not created
    by moco yet (see :func:`certificate_name`)."""
    return prefixed_name(name) + "-grpc"


def mysql_tls_secret_name(name: str) -> str:
    """``moco-<name>-mysql-tls``: the certificate mysqld serves, issued by moco's CA (moco's own:
    MOCO leaves mysqld to its self-generated certificates)."""
    return prefixed_name(name) + "-mysql-tls"


def backup_cronjob_name(name: str) -> str:
    """``moco-backup-<name>``: the backup CronJob (MOCO's name)."""
    return "moco-backup-" + name


def backup_role_name(name: str) -> str:
    """Role/RoleBinding of the backup job (``moco-backup-<name>``)."""
    return "moco-backup-" + name


def restore_job_name(name: str) -> str:
    """``moco-restore-<name>``: the restore Job (MOCO's name)."""
    return "moco-restore-" + name


def restore_role_name(name: str) -> str:
    """Role/RoleBinding of the restore job (``moco-restore-<name>``)."""
    return "moco-restore-" + name
