"""Generic controller machinery, as client-go and controller-runtime define it.

Knows nothing about MySQL or MOCO, and is the only package that imports kubernetes_asyncio.
Objects are the apiserver's JSON as plain dicts; resource types are :class:`resource.Resource`.

Modules, from the wire up:

- :mod:`.errors`: the error hierarchy (NotFound, Conflict, AlreadyExists, Gone, Invalid, ...).
- :mod:`.resource`: group/version/plural descriptors and their REST paths.
- :mod:`.client`: the one owner of the ApiClient; every request rate-limited and with a timeout;
  get/list/create/replace/patch/delete, server-side apply, conflict-retrying updates, watch.
- :mod:`.store`: the informer cache with indexers (namespace, owner uid, any field).
- :mod:`.informer`: list+watch with resourceVersion bookkeeping, bookmarks, 410 relist,
  inactivity timeout and backoff; relists produce the deletes and updates that were missed.
- :mod:`.handlers`: event handlers and key mappers (own key, owner, label, any function).
- :mod:`.ratelimit` and :mod:`.workqueue`: client-go's rate limiters and rate-limited work queue.
- :mod:`.controller`: N workers running a level-based ``reconcile(key) -> Result``.
- :mod:`.leaderelection`: Lease-based election (15 s / 10 s / 2 s, monotonic expiry, release on stop).
- :mod:`.manager`: informers + controllers + runnables + election + /healthz /readyz /metrics.
- :mod:`.events`: best-effort core/v1 Events. :mod:`.metrics`: the Prometheus collectors.

Invariants across the package: no call to the apiserver without a timeout; nothing but
:mod:`.errors` classes escapes the client; stores change only in their informer's task; a key is
never reconciled by two workers at once; a process that lost its lease stops acting.
"""
