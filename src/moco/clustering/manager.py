"""The registry of per-cluster loops (MOCO's ClusterManager).

The MySQLCluster reconciler calls :meth:`ClusterManager.update` on every reconcile (starts the
loop, or wakes it), :meth:`ClusterManager.stop` when the cluster is deleted, and the Pod
watcher calls :meth:`ClusterManager.wake` on Pod events that matter (the one filter is
``moco.controllers.setup._pod_matters``). :meth:`ClusterManager.stop_all` runs on
shutdown and when leadership is lost, and closes the registry for good: the controller's
workers are cancelled together with the clustering runnable, so a reconcile may still end after
it; its ``update`` then starts nothing (a loop started then would run on, unstopped, with a
closed client). Each cluster has its own task, so one slow or failing cluster never delays
another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from moco.clustering.config import ProcessConfig
from moco.clustering.interfaces import CloneAgent, KubeSide
from moco.clustering.process import ClusterProcess
from moco.log import get_logger

Key = tuple[str, str]
#: Builds the Kubernetes side and the clone agent of one cluster.
SideFactory = Callable[[str, str], tuple[KubeSide, CloneAgent]]

log = get_logger("moco.clustering.manager")


class ClusterManager:
    """Start, wake and stop one :class:`ClusterProcess` per MySQLCluster."""

    def __init__(self, sides: SideFactory, cfg: ProcessConfig | None = None) -> None:
        self._sides = sides
        self._cfg = cfg or ProcessConfig()
        self._procs: dict[Key, ClusterProcess] = {}
        self._closed = False

    def update(self, namespace: str, name: str) -> ClusterProcess | None:
        """Start the cluster's loop if it is not running, else wake it; None once closed."""
        if self._closed:
            return None
        key = (namespace, name)
        proc = self._procs.get(key)
        if proc is None:
            kube, agent = self._sides(namespace, name)
            proc = ClusterProcess(namespace, name, kube, agent, self._cfg)
            self._procs[key] = proc
            log.info("clustering starts", cluster=name, namespace=namespace)
        if not proc.running:
            proc.start()
        else:
            proc.wake("reconcile")
        return proc

    def wake(self, namespace: str, name: str, origin: str = "pod-event") -> bool:
        """Wake a running loop; False when the cluster has none."""
        proc = self._procs.get((namespace, name))
        if proc is None:
            return False
        proc.wake(origin)
        return True

    def get(self, namespace: str, name: str) -> ClusterProcess | None:
        """The cluster's loop, if any."""
        return self._procs.get((namespace, name))

    def keys(self) -> list[Key]:
        """Clusters that have a loop."""
        return sorted(self._procs)

    async def stop(self, namespace: str, name: str) -> None:
        """Stop and forget the cluster's loop and its metrics (the cluster was deleted; idempotent)."""
        proc = self._procs.pop((namespace, name), None)
        if proc is not None:
            await proc.stop()
            proc.metrics.remove()
            log.info("clustering stops", cluster=name, namespace=namespace)

    async def stop_all(self) -> None:
        """Stop every loop (shutdown, lost leadership) and start none after (idempotent)."""
        self._closed = True
        procs, self._procs = self._procs, {}
        await asyncio.gather(*(p.stop() for p in procs.values()))
