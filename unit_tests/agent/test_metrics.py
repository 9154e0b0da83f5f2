"""The agent's metrics carry MOCO's exact names, types and labels (moco.agent.metrics)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from moco.agent.metrics import AgentMetrics

L = '{name="db",index="2"}'


def test_mocos_names_without_a_total_suffix() -> None:
    m = AgentMetrics("db", 2)
    m.clone_count.inc()
    m.clone_in_progress.set(1)
    m.clone_duration.observe(3.5)
    m.log_rotation_count.inc(2)
    text = m.render().decode()
    for line in [
        "# TYPE moco_instance_clone_count counter",
        f"moco_instance_clone_count{L} 1.0",
        f"moco_instance_clone_failure_count{L} 0.0",
        "# TYPE moco_instance_clone_in_progress gauge",
        f"moco_instance_clone_in_progress{L} 1.0",
        "# TYPE moco_instance_clone_duration_seconds summary",
        f"moco_instance_clone_duration_seconds_count{L} 1.0",
        f"moco_instance_clone_duration_seconds_sum{L} 3.5",
        f"moco_instance_log_rotation_count{L} 2.0",
        f"moco_instance_log_rotation_failure_count{L} 0.0",
        f"moco_instance_log_rotation_duration_seconds_count{L} 0.0",
    ]:
        assert line in text.splitlines(), f"{line!r} not in\n{text}"
    assert "_total" not in text
    assert "_created" not in text


def test_each_agent_renders_only_its_own_series() -> None:
    a, b = AgentMetrics("a", 0), AgentMetrics("b", 1)
    a.clone_count.inc()
    assert 'name="b"' not in a.render().decode()
    assert 'moco_instance_clone_count{name="b",index="1"} 0.0' in b.render().decode()


def test_the_text_parses_as_prometheus_exposition() -> None:
    m = AgentMetrics('we"ird\\name', 0)
    m.clone_failure_count.inc()
    fams = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    assert fams["moco_instance_clone_failure_count"].type == "counter"
    (sample,) = fams["moco_instance_clone_failure_count"].samples
    assert sample.labels == {"name": 'we"ird\\name', "index": "0"}
    assert sample.value == 1.0
    assert fams["moco_instance_clone_duration_seconds"].type == "summary"


def test_replication_delay_follows_the_readiness_check() -> None:
    """MOCO's gauge: set by each readiness check of a replica, absent on the primary and on a
    replica that has not received a transaction (MOCO unregisters it)."""
    m = AgentMetrics("db", 1)
    assert "replication_delay_seconds" not in m.render().decode()
    m.observe_readiness(replica=True, lag_s=2.5)
    fams = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    (sample,) = fams["moco_instance_replication_delay_seconds"].samples
    assert (sample.value, sample.labels) == (2.5, {"name": "db", "index": "1"})
    assert fams["moco_instance_replication_delay_seconds"].type == "gauge"
    m.observe_readiness(replica=True, lag_s=float("inf"))  # queued, nothing applied yet
    assert 'moco_instance_replication_delay_seconds{name="db",index="1"} +Inf' in m.render().decode()
    m.observe_readiness(replica=True, lag_s=None)  # nothing received yet
    assert "replication_delay_seconds" not in m.render().decode()
    m.observe_readiness(replica=True, lag_s=0.0)
    m.observe_readiness(replica=False, lag_s=None)  # promoted: the primary has none
    assert "replication_delay_seconds" not in m.render().decode()
