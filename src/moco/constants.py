"""Names and numbers shared by every part of moco, with MOCO's values.

A manifest, a Pod or a mysqld set up by MOCO must look the same to moco, so every label,
annotation, user name, port and path here is MOCO's. Nothing here does I/O.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# --- API --------------------------------------------------------------------------------------
GROUP: Final = "moco.cybozu.com"
VERSION: Final = "v1beta2"
API_VERSION: Final = f"{GROUP}/{VERSION}"
FIELD_MANAGER: Final = "moco-controller"
FINALIZER: Final = "moco.cybozu.com/mysqlcluster"

# --- labels -----------------------------------------------------------------------------------
LABEL_APP_NAME: Final = "app.kubernetes.io/name"
LABEL_APP_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_APP_NAMESPACE: Final = "app.kubernetes.io/instance-namespace"
LABEL_APP_CREATED_BY: Final = "app.kubernetes.io/created-by"
APP_NAME_MYSQL: Final = "mysql"
APP_NAME_BACKUP: Final = "mysql-backup"
APP_CREATOR: Final = "moco"

LABEL_ROLE: Final = "moco.cybozu.com/role"
ROLE_PRIMARY: Final = "primary"
ROLE_REPLICA: Final = "replica"

# --- annotations ------------------------------------------------------------------------------
ANN_DEMOTE: Final = "moco.cybozu.com/demote"
ANN_SECRET_VERSION: Final = "moco.cybozu.com/secret-version"
ANN_CLUSTERING_STOPPED: Final = "moco.cybozu.com/clustering-stopped"
ANN_RECONCILIATION_STOPPED: Final = "moco.cybozu.com/reconciliation-stopped"
ANN_FORCE_ROLLING_UPDATE: Final = "moco.cybozu.com/force-rolling-update"
ANN_PREVENT_DELETE: Final = "moco.cybozu.com/prevent-delete"
#: Credential rotation triggers on a MySQLCluster (MOCO's): the value is the rotation's ID.
ANN_PASSWORD_ROTATE: Final = "moco.cybozu.com/password-rotate"
ANN_PASSWORD_DISCARD: Final = "moco.cybozu.com/password-discard"
#: On the restore Job ``moco-restore-<name>``: why its program failed, written by the program,
#: read by the controller into the ``Restored`` condition and the ``RestoreFailed`` Event.
ANN_RESTORE_ERROR: Final = "moco.cybozu.com/restore-error"

# --- MySQL users ------------------------------------------------------------------------------
ADMIN_USER: Final = "moco-admin"
AGENT_USER: Final = "moco-agent"
REPLICATION_USER: Final = "moco-repl"
CLONE_DONOR_USER: Final = "moco-clone-donor"
EXPORTER_USER: Final = "moco-exporter"
BACKUP_USER: Final = "moco-backup"
READONLY_USER: Final = "moco-readonly"
WRITABLE_USER: Final = "moco-writable"

#: Users whose connections are never killed and who are re-created after a clone.
SYSTEM_USERS: Final = frozenset(
    {ADMIN_USER, AGENT_USER, REPLICATION_USER, CLONE_DONOR_USER, EXPORTER_USER, BACKUP_USER}
)
#: Every user moco creates, in the order they are created.
ALL_USERS: Final = (
    ADMIN_USER,
    AGENT_USER,
    REPLICATION_USER,
    CLONE_DONOR_USER,
    EXPORTER_USER,
    BACKUP_USER,
    READONLY_USER,
    WRITABLE_USER,
)


#: Key of each user's password in moco's Secrets; the agent reads the same names from its
#: environment (the Secret is mounted with ``envFrom``). MOCO's names.
PASSWORD_KEYS: Final = MappingProxyType(
    {
        ADMIN_USER: "ADMIN_PASSWORD",
        AGENT_USER: "AGENT_PASSWORD",
        REPLICATION_USER: "REPLICATION_PASSWORD",
        CLONE_DONOR_USER: "CLONE_DONOR_PASSWORD",
        EXPORTER_USER: "EXPORTER_PASSWORD",
        BACKUP_USER: "BACKUP_PASSWORD",
        READONLY_USER: "READONLY_PASSWORD",
        WRITABLE_USER: "WRITABLE_PASSWORD",
    }
)


def mycnf_key(user: str) -> str:
    """Key of a user's my.cnf-formatted credentials in the user-facing Secret."""
    return f"{user}-my.cnf"


# --- ports ------------------------------------------------------------------------------------
MYSQL_PORT: Final = 3306
MYSQL_PORT_NAME: Final = "mysql"
MYSQLX_PORT: Final = 33060
MYSQLX_PORT_NAME: Final = "mysqlx"
MYSQL_ADMIN_PORT: Final = 33062
MYSQL_ADMIN_PORT_NAME: Final = "mysql-admin"
MYSQL_HEALTH_PORT: Final = 9081
MYSQL_HEALTH_PORT_NAME: Final = "health"
AGENT_PORT: Final = 9080
AGENT_PORT_NAME: Final = "agent"
AGENT_METRICS_PORT: Final = 8080
AGENT_METRICS_PORT_NAME: Final = "agent-metrics"
EXPORTER_PORT: Final = 9104
EXPORTER_PORT_NAME: Final = "mysqld-metrics"

# --- containers and volumes -------------------------------------------------------------------
MYSQLD_CONTAINER: Final = "mysqld"
AGENT_CONTAINER: Final = "agent"
INIT_CONTAINER: Final = "moco-init"
COPY_INIT_CONTAINER: Final = "copy-moco-init"
SLOW_LOG_CONTAINER: Final = "slow-log"
EXPORTER_CONTAINER: Final = "mysqld-exporter"

DATA_VOLUME: Final = "mysql-data"
CONF_VOLUME: Final = "mysql-conf"
INIT_CONF_VOLUME: Final = "mysql-conf-d"
MYCNF_SECRET_VOLUME: Final = "my-cnf-secret"
GRPC_SECRET_VOLUME: Final = "grpc-cert"
#: the certificate mysqld serves (Secret ``moco-<name>-mysql-tls``), in mysqld and the agent
MYSQL_TLS_VOLUME: Final = "mysql-tls"
RUN_VOLUME: Final = "run"
VAR_LOG_VOLUME: Final = "var-log"
TMP_VOLUME: Final = "tmp"
SLOW_LOG_CONFIG_VOLUME: Final = "slow-fluent-bit-config"
SHARED_VOLUME: Final = "shared"

CONTAINER_UID: Final = 10000
CONTAINER_GID: Final = 10000
PRE_STOP_SECONDS: Final = 20

# --- paths inside the mysqld Pod --------------------------------------------------------------
MYSQL_DATA_PATH: Final = "/var/lib/mysql"
MYSQL_CONF_PATH: Final = "/etc/mysql"
MYSQL_INIT_CONF_PATH: Final = "/etc/mysql-conf.d"
MYSQL_CONF_NAME: Final = "my.cnf"
RUN_PATH: Final = "/run"
LOG_DIR_PATH: Final = "/var/log/mysql"
MYSQL_FILES_PATH: Final = "/var/lib/mysql-files"
MYSQL_ERROR_LOG_NAME: Final = "mysql.err"
MYSQL_SLOW_LOG_NAME: Final = "mysql.slow"
TMP_PATH: Final = "/tmp"
MYCNF_SECRET_PATH: Final = "/mysql-credentials"
#: where the ``mysql-tls`` volume is mounted: ``tls.crt``, ``tls.key``, ``ca.crt`` (my.cnf's
#: ``ssl_*``, a replica's ``SOURCE_SSL_CA``)
MYSQL_TLS_PATH: Final = "/mysql-tls"
SHARED_PATH: Final = "/moco-shared"
MYSQLD_SOCKET_PATH: Final = f"{RUN_PATH}/mysqld.sock"
INNODB_BUFFER_POOL_RATIO_PERCENT: Final = 70
INNODB_BUFFER_POOL_MIN_BYTES: Final = 128 * 1024 * 1024

# --- environment variables --------------------------------------------------------------------
ENV_POD_NAME: Final = "POD_NAME"
ENV_POD_NAMESPACE: Final = "POD_NAMESPACE"
ENV_CLUSTER_NAME: Final = "CLUSTER_NAME"
ENV_AGENT_TOKEN: Final = "MOCO_AGENT_TOKEN"

# --- keys of the replicationSourceSecretName Secret -------------------------------------------
# MOCO's names (its pkg/constants CloneSource*Key): the external source's address, the user that
# both clones from it and replicates from it, and the user that initialises the instance after
# the clone (the source's users replace moco's then).
SOURCE_HOST_KEY: Final = "HOST"
SOURCE_PORT_KEY: Final = "PORT"
SOURCE_USER_KEY: Final = "USER"
SOURCE_PASSWORD_KEY: Final = "PASSWORD"
SOURCE_INIT_USER_KEY: Final = "INIT_USER"
SOURCE_INIT_PASSWORD_KEY: Final = "INIT_PASSWORD"
#: Every key the Secret must hold, in the order a missing one is reported.
SOURCE_KEYS: Final = (
    SOURCE_HOST_KEY,
    SOURCE_PORT_KEY,
    SOURCE_USER_KEY,
    SOURCE_PASSWORD_KEY,
    SOURCE_INIT_USER_KEY,
    SOURCE_INIT_PASSWORD_KEY,
)
