"""The agent's Prometheus metrics (served on ``/metrics``, port 8080), with MOCO's exact names.

MOCO's agent (moco-agent >= 0.6, the one MOCO v0.8+ runs; its ``docs/metrics.md``) exposes
``moco_instance_<name>{name, index}`` with the Go client, whose counters keep the name they are
given (``moco_instance_clone_count``, no ``_total`` suffix) and whose durations are summaries.
prometheus_client would add ``_total`` to every counter, so the series are rendered here in
the text format and dashboards written for MOCO read them unchanged:

============================================== ======= ==========================================
metric                                         type    meaning
============================================== ======= ==========================================
moco_instance_replication_delay_seconds        gauge   the replica's delay behind its source, set
                                                       by every readiness check; absent on the
                                                       primary and on a replica that has not
                                                       received a transaction yet (MOCO
                                                       unregisters it then)
moco_instance_clone_count                      counter clones started
moco_instance_clone_failure_count              counter clones that failed
moco_instance_clone_duration_seconds           summary duration of successful clones
moco_instance_clone_in_progress                gauge   1 while a clone runs
moco_instance_log_rotation_count               counter log rotations
moco_instance_log_rotation_failure_count       counter log rotations that failed
moco_instance_log_rotation_duration_seconds    summary duration of log rotations
============================================== ======= ==========================================

Labels: ``name`` (the MySQLCluster) and ``index`` (the Pod's ordinal), MOCO's. Each
:class:`AgentMetrics` renders only its own series, so several agents can live in one process
(as in tests).
"""

from __future__ import annotations

import math

from moco.kube.exposition import label_text

_PREFIX = "moco_instance_"


class Count:
    """A counter (or, with :meth:`set`, a gauge) of one label set."""

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = value


class Durations:
    """A summary without quantiles (count and sum), as MOCO's Go summaries are read."""

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.sum += seconds


class AgentMetrics:
    """Clone and log rotation counters, durations and the clone-in-progress gauge."""

    def __init__(self, cluster_name: str, index: int) -> None:
        self.labels = {"name": cluster_name, "index": str(index)}
        #: Seconds behind the source; None when the series is absent (see the module docstring).
        self.replication_delay: float | None = None
        self.clone_count = Count()
        self.clone_failure_count = Count()
        self.clone_duration = Durations()
        self.clone_in_progress = Count()
        self.log_rotation_count = Count()
        self.log_rotation_failure_count = Count()
        self.log_rotation_duration = Durations()

    def families(self) -> list[tuple[str, str, str, list[tuple[str, float]]]]:
        """(name, help, type, [(sample name, value)]) of every metric, in exposition order."""
        counters = [
            ("clone_count", "The clone operation count", self.clone_count),
            ("clone_failure_count", "The failed clone operation count", self.clone_failure_count),
            ("log_rotation_count", "The log rotation count", self.log_rotation_count),
            ("log_rotation_failure_count", "The failed log rotation count", self.log_rotation_failure_count),
        ]
        out = []
        if self.replication_delay is not None:
            name = _PREFIX + "replication_delay_seconds"
            doc = "The seconds how much delay to replicate data from the primary"
            out.append((name, doc, "gauge", [(name, self.replication_delay)]))
        out += [(_PREFIX + n, doc, "counter", [(_PREFIX + n, c.value)]) for n, doc, c in counters]
        name = _PREFIX + "clone_in_progress"
        out.append(
            (
                name,
                "Whether the clone operation is in progress or not",
                "gauge",
                [(name, self.clone_in_progress.value)],
            )
        )
        summaries = [
            ("clone_duration_seconds", "The time took to clone operation", self.clone_duration),
            ("log_rotation_duration_seconds", "The time took to log rotation", self.log_rotation_duration),
        ]
        for n, doc, d in summaries:
            name = _PREFIX + n
            out.append((name, doc, "summary", [(name + "_count", float(d.count)), (name + "_sum", d.sum)]))
        return out

    def observe_readiness(self, *, replica: bool, lag_s: float | None) -> None:
        """What a readiness check read: a replica's delay, or nothing (primary, not yet
        replicating, no transaction received)."""
        self.replication_delay = lag_s if replica else None

    def render(self) -> bytes:
        """This agent's series in the Prometheus text format (version 0.0.4), as Go's client writes them."""
        labels = label_text(list(self.labels), list(self.labels.values()))
        lines: list[str] = []
        for name, doc, typ, samples in self.families():
            lines.append(f"# HELP {name} {doc}")
            lines.append(f"# TYPE {name} {typ}")
            lines.extend(f"{sample}{{{labels}}} {_number(value)}" for sample, value in samples)
        return ("\n".join(lines) + "\n").encode()


def _number(value: float) -> str:
    """A sample value as the text format spells it (``+Inf``: a replica that queued a
    transaction and applied none yet)."""
    v = float(value)
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    return repr(v)
