"""Per-cluster managers that keep MySQL replication right: one asyncio loop per MySQLCluster.

Each pass of a cluster's loop gathers the status of every Pod and every mysqld (concurrently,
bounded), decides the cluster state with a pure function, reports it in MySQLCluster.status,
and applies at most one operation; then it runs again at once if it acted, on the next Pod
event, or on its ticker.

Modules, in the order a pass uses them:

- :mod:`~moco.clustering.types`: the frozen values (cluster view, Pods, mysqld views, decision).
- :mod:`~moco.clustering.interfaces`: the narrow Protocols to Kubernetes (``KubeSide``) and to
  the clone agent (``CloneAgent``), the Event reasons and condition types.
- :mod:`~moco.clustering.gather`: concurrent, bounded status collection.
- :mod:`~moco.clustering.decide`: the pure decisions (state, operation, errants, candidate).
- :mod:`~moco.clustering.report`: the status fields a decision implies (pure).
- :mod:`~moco.clustering.operations`: configure, switchover, failover, initial clone.
- :mod:`~moco.clustering.process` / :mod:`~moco.clustering.manager`: the loop and its registry.
- :mod:`~moco.clustering.memory`: an in-memory ``KubeSide`` and an SQL clone agent, to run the
  real loop against real mysqld without Kubernetes (tests, benchmark).

Invariants: at most one writable instance at any moment; a commit the primary acknowledged is
in the relay log of ``replicas // 2`` replicas before it is acknowledged (loss-less semi-sync
that never degrades to asynchronous); an errant replica is never promoted; every SQL statement
and every Kubernetes call has a timeout; one cluster's trouble never delays another's.
"""
