"""The settings moco writes into every my.cnf, as data.

Two tables:

* :data:`DEFAULT_MYSQLD` holds ``[mysqld]`` defaults tuned for a server in a Pod. A user's
  ConfigMap may override any of them.
* :func:`enforced_sections` holds the settings the operator relies on (GTID replication, the
  ports the Services point at, the paths the Pod mounts, read-only at start). They are applied
  last, so nothing a user writes changes them.

Names follow MySQL 8.4/9.x (``log_replica_updates``, ``skip_replica_start``); options that a
server may not know carry the ``loose_`` prefix so that mysqld starts anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from moco import constants

#: ``[mysqld]`` defaults a user may override (keys normalised: ``_`` not ``-``).
DEFAULT_MYSQLD: Final[Mapping[str, str]] = MappingProxyType(
    {
        "character_set_server": "utf8mb4",
        "collation_server": "utf8mb4_unicode_ci",
        "default_time_zone": "+0:00",
        "back_log": "900",
        "max_connections": "100000",
        "max_allowed_packet": "1G",
        "max_heap_table_size": "64M",
        "tmp_table_size": "64M",
        "sort_buffer_size": "4M",
        "join_buffer_size": "2M",
        "thread_cache_size": "100",
        "wait_timeout": "604800",
        "lock_wait_timeout": "60",
        # table_open_cache and open_files_limit depend on each other; a large cache avoids MY-012102.
        "table_open_cache": "65536",
        "table_definition_cache": "65536",
        "transaction_isolation": "READ-COMMITTED",
        "slow_query_log": "ON",
        "long_query_time": "2",
        "log_slow_extra": "ON",
        "log_error_verbosity": "3",
        "max_sp_recursion_depth": "20",
        "print_identified_with_as_hex": "ON",
        "binlog_transaction_compression": "ON",
        "information_schema_stats_expiry": "0",
        "disabled_storage_engines": "MyISAM",
        "default_storage_engine": "InnoDB",
        "innodb_flush_method": "O_DIRECT",
        "innodb_lock_wait_timeout": "60",
        "innodb_print_all_deadlocks": "ON",
        "innodb_online_alter_log_max_size": "1073741824",
        "innodb_adaptive_hash_index": "ON",
        "loose_innodb_numa_interleave": "ON",
        "innodb_buffer_pool_in_core_file": "OFF",
        "innodb_redo_log_capacity": "1600M",
        "innodb_buffer_pool_dump_pct": "100",
        "innodb_buffer_pool_dump_at_shutdown": "ON",
        "innodb_buffer_pool_load_at_startup": "OFF",
        "innodb_validate_tablespace_paths": "OFF",
        # SSD-friendly I/O.
        "innodb_flush_neighbors": "0",
        "innodb_random_read_ahead": "OFF",
        "innodb_read_ahead_threshold": "0",
        "innodb_log_write_ahead_size": "512",
    }
)

#: Keys dropped from a user's ConfigMap: the operator decides binary logging and the error log.
DROPPED_USER_KEYS: Final = frozenset({"log_bin", "log_error", "skip_log_bin", "disable_log_bin"})

#: ConfigMap key whose value is copied verbatim at the top of ``[mysqld]`` (MOCO's ``_include``).
OPAQUE_KEY: Final = "_include"


@dataclass(frozen=True)
class Paths:
    """Where the Pod mounts things; tests point these at a temporary directory."""

    data_root: str = constants.MYSQL_DATA_PATH
    run_dir: str = constants.RUN_PATH
    log_dir: str = constants.LOG_DIR_PATH
    tmp_dir: str = constants.TMP_PATH
    init_conf_dir: str = constants.MYSQL_INIT_CONF_PATH
    tls_dir: str = constants.MYSQL_TLS_PATH

    @property
    def datadir(self) -> str:
        """mysqld's datadir: a ``data`` directory under the volume, as MOCO lays it out."""
        return f"{self.data_root}/data"

    @property
    def socket(self) -> str:
        return f"{self.run_dir}/mysqld.sock"

    @property
    def pid_file(self) -> str:
        return f"{self.run_dir}/mysqld.pid"

    @property
    def slow_log(self) -> str:
        return f"{self.log_dir}/{constants.MYSQL_SLOW_LOG_NAME}"

    @property
    def error_log(self) -> str:
        return f"{self.log_dir}/{constants.MYSQL_ERROR_LOG_NAME}"


POD_PATHS: Final = Paths()


def tls_settings(paths: Paths = POD_PATHS) -> dict[str, str]:
    """``[mysqld]`` settings of a server that serves moco's certificate (the ``mysql-tls``
    volume: ``tls.crt``, ``tls.key``, ``ca.crt``), on the SQL port and on the admin port the
    operator uses. mysqld re-reads the files at ``ALTER INSTANCE RELOAD TLS [FOR CHANNEL
    mysql_admin]``; ``tls_version`` stays MySQL's default (TLSv1.2 and TLSv1.3)."""
    ca, cert, key = (f"{paths.tls_dir}/{name}" for name in ("ca.crt", "tls.crt", "tls.key"))
    return {
        "ssl_ca": ca,
        "ssl_cert": cert,
        "ssl_key": key,
        "admin_ssl_ca": ca,
        "admin_ssl_cert": cert,
        "admin_ssl_key": key,
    }


def enforced_sections(paths: Paths = POD_PATHS, *, tls: bool = False) -> dict[str, dict[str, str]]:
    """Settings per section that override anything else (section -> key -> value); with ``tls``
    mysqld serves moco's certificate (:func:`tls_settings`)."""
    return {
        "mysqld": {
            **(tls_settings(paths) if tls else {}),
            "port": str(constants.MYSQL_PORT),
            "mysqlx_port": str(constants.MYSQLX_PORT),
            "admin_port": str(constants.MYSQL_ADMIN_PORT),
            "socket": paths.socket,
            "datadir": paths.datadir,
            "pid_file": paths.pid_file,
            "tmpdir": paths.tmp_dir,
            "innodb_tmpdir": paths.tmp_dir,
            "secure_file_priv": "NULL",
            "skip_name_resolve": "ON",
            "slow_query_log_file": paths.slow_log,
            # enforce_gtid_consistency must be set for gtid_mode=ON to be accepted.
            "enforce_gtid_consistency": "ON",
            "gtid_mode": "ON",
            "binlog_format": "ROW",
            "log_replica_updates": "ON",
            # ON would discard relay logs on restart and lose transactions in chained failures.
            "relay_log_recovery": "OFF",
            "read_only": "ON",
            "super_read_only": "ON",
            "skip_replica_start": "ON",
            "loose_replication_optimize_for_static_plugin_config": "ON",
            # ON prevents a replica recovered from a crash from restarting replication.
            "loose_replication_sender_observe_commit_only": "OFF",
        },
        "client": {
            "port": str(constants.MYSQL_PORT),
            "socket": paths.socket,
            # mysqlbinlog does not know default_character_set.
            "loose_default_character_set": "utf8mb4",
        },
        "mysql": {
            "auto_rehash": "OFF",
            "init_command": '"SET autocommit=0"',
        },
    }
