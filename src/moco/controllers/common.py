"""Labels, owner references, metadata and quantities shared by every rendering module.

Pure functions over :class:`moco.api.MySQLCluster`; nothing here does I/O. Objects are plain
dicts shaped as the apiserver expects them in a server-side apply body.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from moco import constants, quantity
from moco.api import MySQLCluster

Obj = dict[str, Any]


def labels(cluster: MySQLCluster, *, controller_namespace: bool = False) -> dict[str, str]:
    """MOCO's label set; objects in the controller's namespace also name the cluster's namespace."""
    out = {
        constants.LABEL_APP_NAME: constants.APP_NAME_MYSQL,
        constants.LABEL_APP_INSTANCE: cluster.name,
        constants.LABEL_APP_CREATED_BY: constants.APP_CREATOR,
    }
    if controller_namespace:
        out[constants.LABEL_APP_NAMESPACE] = cluster.namespace
    return out


def owner_reference(cluster: MySQLCluster) -> Obj:
    """The controller reference to ``cluster`` (garbage collection removes what it owns)."""
    return {
        "apiVersion": cluster.api_version,
        "kind": cluster.kind,
        "name": cluster.name,
        "uid": str(cluster.metadata.get("uid", "")),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    cluster: MySQLCluster,
    name: str,
    *,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    owned: bool = True,
) -> Obj:
    """``metadata`` of an object in the cluster's namespace (owned by the cluster by default)."""
    meta: Obj = {
        "name": name,
        "namespace": cluster.namespace,
        "labels": {**(extra_labels or {}), **labels(cluster)},
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    if owned:
        meta["ownerReferences"] = [owner_reference(cluster)]
    return meta


def is_true(cluster: MySQLCluster, annotation: str) -> bool:
    """An annotation of the cluster set to ``"true"`` (MOCO's switches)."""
    anns = cluster.metadata.get("annotations") or {}
    return bool(anns.get(annotation) == "true")


def parse_quantity(value: Any) -> int | None:
    """Bytes (rounded up) of a Kubernetes quantity such as ``512Mi``, ``1G`` or ``1e9``; None if absent.

    The parsing is :func:`moco.quantity.to_int`'s (shared with the agent); a bad quantity raises
    :class:`ValueError`.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value)
    return quantity.to_int(str(value))


def find_container(spec: Mapping[str, Any], name: str) -> Obj | None:
    """The container ``name`` of a Pod spec (a deep copy), or None."""
    for c in spec.get("containers") or []:
        if c.get("name") == name:
            return copy.deepcopy(dict(c))
    return None


def mysqld_memory(cluster: MySQLCluster) -> int | None:
    """Memory of the mysqld container: the request, else the limit (as MOCO sizes the buffer pool)."""
    c = find_container(cluster.spec.pod_template.spec, constants.MYSQLD_CONTAINER) or {}
    res = c.get("resources") or {}
    request = parse_quantity((res.get("requests") or {}).get("memory"))
    limit = parse_quantity((res.get("limits") or {}).get("memory"))
    return request or limit or None
