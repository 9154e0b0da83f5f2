"""Prometheus collectors of the controller machinery, named as controller-runtime names them.

They are registered once, on prometheus_client's default registry, which the manager serves at
``/metrics``. Labels: ``name`` for a work queue, ``controller`` for a controller (both are the
controller's name), so dashboards written for controller-runtime operators work unchanged.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# --- work queue (client-go's workqueue metrics) -------------------------------------------------
WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of the work queue", ["name"])
WORKQUEUE_ADDS = Counter("workqueue_adds", "Total number of adds handled by the work queue", ["name"])
WORKQUEUE_RETRIES = Counter("workqueue_retries", "Total number of rate-limited re-adds", ["name"])
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long an item stays in the work queue before being requested",
    ["name"],
    buckets=_DURATION_BUCKETS,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long processing an item from the work queue takes",
    ["name"],
    buckets=_DURATION_BUCKETS,
)

# --- controllers (controller-runtime's reconcile metrics) ---------------------------------------
RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile", "Total number of reconciliations per controller", ["controller", "result"]
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors",
    "Total number of reconciliation errors per controller",
    ["controller"],
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=_DURATION_BUCKETS,
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers", "Number of currently used workers per controller", ["controller"]
)
MAX_CONCURRENT_RECONCILES = Gauge(
    "controller_runtime_max_concurrent_reconciles", "Maximum number of concurrent reconciles", ["controller"]
)

# --- leader election ----------------------------------------------------------------------------
LEADER_ELECTION_STATUS = Gauge(
    "leader_election_master_status", "1 while this process holds the lease, else 0", ["name"]
)
