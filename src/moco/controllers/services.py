"""The Services, the ServiceAccount and the PodDisruptionBudget of a cluster (pure rendering).

* ``moco-<name>`` (headless): governs the StatefulSet, publishes not-ready addresses (Pods must
  find each other before they are ready), ports mysql, mysqlx and mysql-admin;
* ``moco-<name>-replica``: selects by the ``moco.cybozu.com/role`` label that the clustering
  loop sets;
* ``moco-<name>-primary``: has NO selector; moco writes its EndpointSlice, routing to the Pod
  labelled primary (:mod:`moco.controllers.primaryslice`: a primary change is then one endpoint
  change, which kube-proxy syncs at once, instead of two, the second held back by its
  ``minSyncPeriod``);
* for both, the user's template (annotations, labels, spec such as ``type: LoadBalancer``) is
  honoured, but the selector (none for the primary) and the mysql/mysqlx ports are forced;
* the ServiceAccount ``moco-<name>`` the Pods run as;
* the PDB (3+ replicas, not offline): ``maxUnavailable = replicas / 2``, so a quorum of
  semi-synchronous replicas always stays.
"""

from __future__ import annotations

import copy
from typing import Any

from moco import constants
from moco.api import MySQLCluster, ServiceTemplate
from moco.controllers.common import Obj, labels, object_meta

PDB_MIN_REPLICAS = 3


def _port(name: str, port: int) -> Obj:
    return {"name": name, "protocol": "TCP", "port": port, "targetPort": name}


def _force_port(ports: list[Obj], name: str, port: int) -> None:
    for p in ports:
        if p.get("name") == name:
            p.update({"protocol": "TCP", "port": port, "targetPort": name})
            return
    ports.append(_port(name, port))


def service(
    cluster: MySQLCluster,
    name: str,
    template: ServiceTemplate | None,
    role: str | None,
    *,
    headless: bool,
    selector: bool = True,
) -> Obj:
    """One of the three Services (see the module docstring); ``selector=False``: none."""
    extra_labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    spec: dict[str, Any] = {}
    if template is not None and not headless:
        if template.metadata is not None:
            extra_labels = dict(template.metadata.labels or {})
            annotations = dict(template.metadata.annotations or {})
        spec = copy.deepcopy(template.spec or {})
    spec.pop("selector", None)
    if selector:
        spec["selector"] = labels(cluster)
        if role is not None:
            spec["selector"][constants.LABEL_ROLE] = role
    if headless:
        spec.update({"clusterIP": "None", "type": "ClusterIP", "publishNotReadyAddresses": True})
    ports: list[Obj] = list(spec.get("ports") or [])
    _force_port(ports, constants.MYSQL_PORT_NAME, constants.MYSQL_PORT)
    _force_port(ports, constants.MYSQLX_PORT_NAME, constants.MYSQLX_PORT)
    if headless:
        _force_port(ports, constants.MYSQL_ADMIN_PORT_NAME, constants.MYSQL_ADMIN_PORT)
    spec["ports"] = ports
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(cluster, name, extra_labels=extra_labels, annotations=annotations),
        "spec": spec,
    }


def services(cluster: MySQLCluster) -> list[Obj]:
    """Headless, primary and replica Services, in that order."""
    s = cluster.spec
    return [
        service(cluster, cluster.headless_service_name(), None, None, headless=True),
        service(
            cluster,
            cluster.primary_service_name(),
            s.primary_service_template,
            constants.ROLE_PRIMARY,
            headless=False,
            selector=False,
        ),
        service(
            cluster,
            cluster.replica_service_name(),
            s.replica_service_template,
            constants.ROLE_REPLICA,
            headless=False,
        ),
    ]


def service_account(cluster: MySQLCluster) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(cluster, cluster.prefixed_name()),
    }


def pdb(cluster: MySQLCluster, *, backup_running: bool = False) -> Obj | None:
    """The PodDisruptionBudget, or None when the cluster should have none.

    While a backup job runs no Pod may be disrupted (``maxUnavailable: 0``), as in MOCO.
    """
    replicas = cluster.spec.replicas or 1
    if cluster.spec.offline or replicas < PDB_MIN_REPLICAS:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(cluster, cluster.prefixed_name()),
        "spec": {
            "maxUnavailable": 0 if backup_running else replicas // 2,
            "selector": {"matchLabels": labels(cluster)},
        },
    }
