"""Reconciler versions: a cluster keeps the rendering it was last reconciled with until its spec
changes, so an operator upgrade restarts no mysqld (MOCO's ``status.reconcileInfo.reconcileVersion``).

A Pod template changes only when something the user declared, or the agent's own contract,
changes. When a moco release must render a cluster's objects differently, it adds a version here
and keeps the earlier one for the clusters it did not render yet: they keep it (and their Pods)
until the user edits the cluster, who then expects restarts (MOCO's rule: ``docs/reconcile.md``).

Which version reconciles a cluster (:func:`decide`, pure; the first rule that holds):

1. the cluster is being deleted, or ``status.reconcileInfo.generation`` is its
   ``metadata.generation`` (nothing the user declares changed since), and the recorded version
   is one this controller knows (:data:`SUPPORTED`): the recorded version;
2. otherwise (a new cluster, a changed spec, version 0 = never recorded, or a version of a newer
   controller after a downgrade): :data:`LATEST`.

``status.reconcileInfo`` records the version used, by the same rule (:func:`recorded`), so a
cluster stays on version 1 across any number of reconciles of the same generation.

The versions (each says only how it differs from the next):

1. the agent, ``copy-moco-init`` and the default ``slow-log`` containers run the image the
   cluster's StatefulSet runs now. moco before version 2 gave them the controller's own image,
   so keeping it is what version-1 rendering means for a live cluster (:func:`agent_images`);
2. they run the configured agent image (``--agent-image``, versioned apart from the controller:
   :data:`moco.controllers.containers.AGENT_VERSION`); mysqld serves the certificate it
   generated itself at its first start;
3. mysqld serves moco's certificate (:mod:`moco.controllers.mysqlcert`): the Secret
   ``moco-<name>-mysql-tls`` is mounted in the ``mysqld`` and ``agent`` containers and my.cnf
   names it (``ssl_*``, ``admin_ssl_*``); replicas then verify their source
   (:func:`serves_moco_tls`);
4. the mysqld container's startup probe asks every second instead of every 10 s (MOCO's
   period), its failure threshold scaled so that ``spec.startupWaitSeconds`` still bounds the
   wait: an instance that just (re)started is Ready up to 9 s sooner (a new 3-instance cluster
   on the local cluster: about 10 s of its 35-45 s to Healthy were the probe's period)
   (:func:`startup_probe_period`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from moco import constants
from moco.api import MySQLCluster
from moco.controllers.common import Obj, find_container
from moco.controllers.containers import Images

#: the version a changed or new cluster is reconciled with
LATEST: Final = 4
#: the versions this controller can render
SUPPORTED: Final = frozenset({1, 2, 3, 4})
#: the first version whose mysqld serves moco's certificate
MOCO_TLS_SINCE: Final = 3
#: the first version whose startup probe asks every second
FAST_STARTUP_PROBE_SINCE: Final = 4


def serves_moco_tls(version: int) -> bool:
    """Whether a cluster rendered at ``version`` mounts moco's mysqld certificate (version 3)."""
    return version >= MOCO_TLS_SINCE


def startup_probe_period(version: int) -> int:
    """The mysqld startup probe's default ``periodSeconds`` at ``version`` (version 4)."""
    return 1 if version >= FAST_STARTUP_PROBE_SINCE else 10


def decide(
    recorded_generation: int | None, recorded_version: int, generation: int | None, *, deleting: bool
) -> int:
    """The version to reconcile with (rules 1-2 of the module docstring)."""
    unchanged = recorded_generation is not None and recorded_generation == generation
    if (deleting or unchanged) and recorded_version in SUPPORTED:
        return recorded_version
    return LATEST


def for_cluster(cluster: MySQLCluster) -> int:
    """The version that reconciles ``cluster`` (as read at the start of the reconcile)."""
    info = cluster.status.reconcile_info if cluster.status is not None else None
    generation = cluster.metadata.get("generation")
    return decide(
        info.generation if info is not None else None,
        info.reconcile_version if info is not None else 0,
        int(generation) if generation is not None else None,
        deleting=bool(cluster.metadata.get("deletionTimestamp")),
    )


def recorded(status: dict[str, Any], generation: int) -> int:
    """The version to record in ``status.reconcileInfo`` after reconciling ``generation``: the one
    :func:`for_cluster` chose from the same record (only the reconciler writes it)."""
    info = status.get("reconcileInfo") or {}
    return decide(info.get("generation"), int(info.get("reconcileVersion") or 0), generation, deleting=False)


def live_agent_image(live: Obj | None) -> str | None:
    """The image of the ``agent`` container of the live StatefulSet, if any."""
    if live is None:
        return None
    spec = ((live.get("spec") or {}).get("template") or {}).get("spec") or {}
    agent = find_container(spec, constants.AGENT_CONTAINER)
    image = (agent or {}).get("image")
    return str(image) if image else None


def agent_images(version: int, images: Images, live: Obj | None) -> Images:
    """The images to render with at ``version``: version 1 keeps the agent image the cluster runs."""
    if version == 1:
        running = live_agent_image(live)
        if running is not None and running != images.agent:
            return dataclasses.replace(images, agent=running)
    return images
