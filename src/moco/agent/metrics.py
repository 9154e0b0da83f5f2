"""The agent's Prometheus metrics (served on ``/metrics``, port 8080), with MOCO's names.

Each :class:`AgentMetrics` has its own registry, so several agents can live in one process (as
in tests) and ``/metrics`` shows only this agent's series. Labels: ``cluster_name`` and
``index`` (the Pod's ordinal), as MOCO's agent.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_NS = "moco_instance"


class AgentMetrics:
    """Clone and log rotation counters and durations."""

    def __init__(self, cluster_name: str, index: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("cluster_name", "index")
        values = (cluster_name, str(index))

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, labels, namespace=_NS, registry=self.registry).labels(*values)

        def histogram(name: str, doc: str) -> Histogram:
            return Histogram(name, doc, labels, namespace=_NS, registry=self.registry).labels(*values)

        self.clone_count = counter("clone_count", "Clones started")
        self.clone_failure_count = counter("clone_failure_count", "Clones that failed")
        self.clone_duration = histogram("clone_duration_seconds", "Duration of successful clones")
        self.log_rotation_count = counter("log_rotation_count", "Log rotations")
        self.log_rotation_failure_count = counter("log_rotation_failure_count", "Log rotations that failed")
        self.log_rotation_duration = histogram("log_rotation_duration_seconds", "Duration of log rotations")

    def render(self) -> bytes:
        """The exposition text of this registry."""
        return generate_latest(self.registry)
