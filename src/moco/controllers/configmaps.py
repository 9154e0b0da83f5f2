"""The generated ConfigMaps: my.cnf (named by a hash of its content) and the slow-log agent's config.

A change of content gives a new name; the StatefulSet's Pod template names it in a volume, so
the change rolls the Pods. Old ConfigMaps of the same prefix and owner are pruned, newest kept
up to a history limit (:func:`prunable`), so a rollback of the template still finds its file.

Pure functions; the reconciler reads the user's ConfigMap and applies/deletes what these return.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

from moco import constants, mycnf
from moco.api import MySQLCluster
from moco.controllers.common import Obj, mysqld_memory, object_meta

FLUENT_BIT_CONFIG_PATH: Final = "/fluent-bit/etc"
FLUENT_BIT_CONFIG_NAME: Final = "fluent-bit.conf"
#: MOCO's default slow-log agent configuration (``{{ .Path }}`` is the slow log's path).
DEFAULT_SLOW_LOG_TEMPLATE: Final = """[SERVICE]
  Log_Level      error
[INPUT]
  Name           tail
  Path           {{ .Path }}
  Read_from_Head true
[OUTPUT]
  Name           file
  Match          *
  Path           /dev
  File           stdout
  Format         template
  Template       {log}
"""
_PATH_FIELD = re.compile(r"\{\{-?\s*\.Path\s*-?\}\}")
DEFAULT_HISTORY_LIMIT: Final = 10


def render_mycnf(cluster: MySQLCluster, user_conf: Mapping[str, str] | None, *, tls: bool = False) -> str:
    """my.cnf of the cluster (the user's ConfigMap data merged, the buffer pool sized from memory;
    with ``tls``, mysqld serves moco's certificate: reconcile version 3)."""
    return mycnf.generate(user_conf, mysqld_memory(cluster), tls=tls)


def mycnf_configmap(cluster: MySQLCluster, user_conf: Mapping[str, str] | None, *, tls: bool = False) -> Obj:
    """The my.cnf ConfigMap, named ``moco-<name>.<hash>``."""
    conf = render_mycnf(cluster, user_conf, tls=tls)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(cluster, mycnf.configmap_name(cluster.name, conf)),
        "data": {constants.MYSQL_CONF_NAME: conf},
    }


def slow_log_prefix(cluster: MySQLCluster) -> str:
    return f"moco-slow-log-agent-config-{cluster.name}."


def slow_log_configmap(cluster: MySQLCluster) -> Obj | None:
    """The slow-log sidecar's configuration, or None when the sidecar is disabled."""
    if cluster.spec.disable_slow_query_log_container:
        return None
    tmpl = cluster.spec.slow_query_log_config_tmpl or DEFAULT_SLOW_LOG_TEMPLATE
    path = f"{constants.LOG_DIR_PATH}/{constants.MYSQL_SLOW_LOG_NAME}"
    text = _PATH_FIELD.sub(path, tmpl)
    name = slow_log_prefix(cluster) + mycnf.content_hash(tmpl)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(cluster, name),
        "data": {FLUENT_BIT_CONFIG_NAME: text},
    }


def _owned_by(obj: Obj, uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == uid for r in refs)


def prunable(
    existing: Iterable[Obj], prefix: str, current: str | None, owner_uid: str, keep: int
) -> list[str]:
    """Names of old ConfigMaps to delete: same prefix and owner, not ``current``, beyond the newest
    ``keep - 1`` (with ``current`` that makes ``keep``). ``current=None`` deletes them all."""
    old = [
        o
        for o in existing
        if o["metadata"]["name"].startswith(prefix)
        and o["metadata"]["name"] != current
        and _owned_by(o, owner_uid)
    ]
    old.sort(key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]), reverse=True)
    spare = 0 if current is None else max(keep - 1, 0)
    return sorted(o["metadata"]["name"] for o in old[spare:])
