"""The MySQLCluster reconciler, the partition controller and their wiring (MOCO's controllers).

Modules, one concept each:

* rendering, pure (model -> dict manifests): :mod:`~moco.controllers.common` (labels, owner
  references, quantities), :mod:`~moco.controllers.secrets`, :mod:`~moco.controllers.configmaps`,
  :mod:`~moco.controllers.services` (Services, ServiceAccount, PDB),
  :mod:`~moco.controllers.containers`, :mod:`~moco.controllers.statefulset` (with the rollout
  and re-creation decisions), :mod:`~moco.controllers.volumes` (claim growth),
  :mod:`~moco.controllers.status` (the reconciler's conditions);
* I/O: :mod:`~moco.controllers.reconciler` (server-side apply with field manager
  ``moco-controller``), :mod:`~moco.controllers.partition` (partitioned rolling updates),
  :mod:`~moco.controllers.kubeside` (the clustering loop's Kubernetes side and clone agent),
  :mod:`~moco.controllers.setup` (informers, controllers, clustering registry on a manager).

Invariants: every object the reconciler writes in the cluster's namespace carries a controller
owner reference to the MySQLCluster (garbage collection removes it); the one object outside
(the controller-namespace Secret) is removed by the finalizer. Passwords are generated once,
never logged, never rewritten. Every API call has a timeout. Errors: :mod:`~moco.controllers.errors`.
"""
