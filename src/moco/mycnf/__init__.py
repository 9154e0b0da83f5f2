"""my.cnf generation: MOCO's defaults, the user's overrides, and the settings users may not override.

Pure functions, no I/O, nothing of moco imported but :mod:`moco.constants`.

* :func:`generate` renders the cluster-wide my.cnf (one ConfigMap, named by
  :func:`configmap_name` after the content's hash) from the user's ConfigMap data and the mysqld
  container's memory.
* :func:`translate` rewrites options MySQL removed and replaced (``innodb_log_file_size`` ->
  ``innodb_redo_log_capacity``); :func:`generate` applies it, the controller reports it.
* :func:`render_instance_conf` renders the per-Pod file (server_id, admin_address, report_host)
  that the init container writes into ``/etc/mysql-conf.d``; my.cnf includes that directory last.

Invariant: the settings moco depends on (GTIDs, ROW binlog, ports, paths, read-only at start)
are applied after the user's, so a user's ConfigMap cannot change them.
"""

from moco.mycnf.defaults import DEFAULT_MYSQLD, POD_PATHS, Paths, enforced_sections
from moco.mycnf.generate import (
    buffer_pool_size,
    configmap_name,
    configmap_prefix,
    content_hash,
    generate,
)
from moco.mycnf.instance import (
    InstanceConf,
    InstanceConfError,
    instance_conf_for,
    ordinal_of,
    pod_fqdn,
    render_instance_conf,
    render_instance_template,
)
from moco.mycnf.renamed import Translation, translate

__all__ = [
    "DEFAULT_MYSQLD",
    "POD_PATHS",
    "InstanceConf",
    "InstanceConfError",
    "Paths",
    "Translation",
    "buffer_pool_size",
    "configmap_name",
    "configmap_prefix",
    "content_hash",
    "enforced_sections",
    "generate",
    "instance_conf_for",
    "ordinal_of",
    "pod_fqdn",
    "render_instance_conf",
    "render_instance_template",
    "translate",
]
