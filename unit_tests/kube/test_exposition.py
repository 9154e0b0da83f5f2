"""The cached exposition of per-cluster families (moco.kube.exposition), rule by rule; and that a
parser reads from it what it reads from prometheus_client's rendering of the same series."""

from __future__ import annotations

import math

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from moco.kube.exposition import Counter, Gauge, Histogram, Registry

BUCKETS = (0.1, 0.5, 1.0, 10.0)


def parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, ``_created`` samples left out."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if not s.name.endswith("_created"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def same_series_both_ways(ours: Registry, client: prometheus_client.CollectorRegistry) -> None:
    mine = parsed(ours.render())
    theirs = parsed(prometheus_client.generate_latest(client).decode())
    assert mine.keys() == theirs.keys()
    for key, value in mine.items():
        assert value == theirs[key] or (math.isnan(value) and math.isnan(theirs[key])), key


def test_rule_1_an_unchanged_series_is_not_rendered_again_and_a_changed_one_is() -> None:
    reg = Registry()
    g = Gauge("g", "a gauge", ["name"], registry=reg)
    a, b = g.labels("a"), g.labels("b")
    a.set(1)
    b.set(2)
    assert reg.render().splitlines()[2:] == ['g{name="a"} 1.0', 'g{name="b"} 2.0']
    a_text, b_text = a.text("g"), b.text("g")
    a.set(3)
    assert reg.render().splitlines()[2:] == ['g{name="a"} 3.0', 'g{name="b"} 2.0']
    assert b.text("g") is b_text  # the same string, not one rendered again
    assert a.text("g") is not a_text


def test_rule_1_label_values_are_escaped_once_as_the_format_asks() -> None:
    reg = Registry()
    c = Counter("c", "help with a \\ and a\nnewline", ["name"], registry=reg)
    c.labels('a"b\\c\nd').inc()
    text = reg.render()
    assert 'c_total{name="a\\"b\\\\c\\nd"} 1.0' in text.splitlines()
    assert "# HELP c_total help with a \\\\ and a\\nnewline" in text.splitlines()
    [fam] = list(text_string_to_metric_families(text))
    assert fam.samples[0].labels == {"name": 'a"b\\c\nd'}


def test_rule_2_a_family_is_contiguous_header_first_series_in_creation_order() -> None:
    reg = Registry()
    first = Gauge("first", "one", ["name"], registry=reg)
    second = Counter("second", "two", ["name"], registry=reg)
    for n in ("z", "a", "m"):
        first.labels(n).set(1)
        second.labels(n).inc()
    lines = reg.render().splitlines()
    assert lines[:2] == ["# HELP first one", "# TYPE first gauge"]
    assert [line.split('"')[1] for line in lines[2:5]] == ["z", "a", "m"]
    assert lines[5:7] == ["# HELP second_total two", "# TYPE second_total counter"]
    assert all(line.startswith("second_total{") for line in lines[7:])


def test_rule_3_and_4_a_parser_reads_what_prometheus_client_exposes_for_the_same_series() -> None:
    ours, client = Registry(), prometheus_client.CollectorRegistry()
    pairs = [
        (Counter("c", "c", ["name", "namespace"], registry=ours),
         prometheus_client.Counter("c", "c", ["name", "namespace"], registry=client)),
        (Gauge("g", "g", ["name", "namespace"], registry=ours),
         prometheus_client.Gauge("g", "g", ["name", "namespace"], registry=client)),
        (Histogram("h", "h", ["name", "namespace"], buckets=BUCKETS, registry=ours),
         prometheus_client.Histogram("h", "h", ["name", "namespace"], buckets=BUCKETS, registry=client)),
    ]  # fmt: skip
    (c, pc), (g, pg), (h, ph) = pairs
    for i in range(3):
        labels = (f"db{i}", "ns")
        c.labels(*labels).inc(i + 0.5)
        pc.labels(*labels).inc(i + 0.5)
        g.labels(*labels).set([1e9, math.nan, -2.25][i])
        pg.labels(*labels).set([1e9, math.nan, -2.25][i])
        for v in (0.05, 0.1, 0.7, 3.0, 1000.0)[: i + 3]:
            h.labels(*labels).observe(v)
            ph.labels(*labels).observe(v)
    c.labels("idle", "ns")  # exposed at zero from its first use
    pc.labels("idle", "ns")
    same_series_both_ways(ours, client)
    text = ours.render()
    assert "_created" not in text
    assert 'h_bucket{name="db0",namespace="ns",le="+Inf"} 3.0' in text.splitlines()


def test_rule_5_a_name_is_defined_once() -> None:
    reg = Registry()
    Gauge("g", "g", ["name"], registry=reg)
    with pytest.raises(ValueError, match="defined twice"):
        Counter("g", "g", ["name"], registry=reg)


def test_remove_deletes_one_series_and_an_absent_one_is_a_key_error() -> None:
    reg = Registry()
    g = Gauge("g", "g", ["name", "namespace"], registry=reg)
    g.labels("a", "ns").set(1)
    g.labels("b", "ns").set(2)
    g.remove("a", "ns")
    assert reg.sample_value("g", {"name": "a", "namespace": "ns"}) is None
    assert reg.sample_value("g", {"name": "b", "namespace": "ns"}) == 2
    with pytest.raises(KeyError):
        g.remove("a", "ns")
    g.remove("b", "ns")
    assert reg.render() == ""  # no series, no header


def test_bad_use_is_refused_with_the_reason() -> None:
    reg = Registry()
    c = Counter("c", "c", ["name", "namespace"], registry=reg)
    with pytest.raises(ValueError, match="a counter only goes up"):
        c.labels("a", "ns").inc(-1)
    with pytest.raises(ValueError, match=r"want 2 values"):
        c.labels("a")


def test_sample_value_reads_counters_gauges_and_histograms() -> None:
    reg = Registry()
    Counter("c", "c", ["name"], registry=reg).labels("a").inc(2)
    h = Histogram("h", "h", ["name"], buckets=BUCKETS, registry=reg)
    h.labels("a").observe(0.3)
    h.labels("a").observe(20)
    assert reg.sample_value("c_total", {"name": "a"}) == 2
    assert reg.sample_value("h_bucket", {"name": "a", "le": "0.5"}) == 1
    assert reg.sample_value("h_bucket", {"name": "a", "le": "+Inf"}) == 2
    assert reg.sample_value("h_count", {"name": "a"}) == 2
    assert reg.sample_value("h_sum", {"name": "a"}) == 20.3
    assert reg.sample_value("c_total", {"name": "b"}) is None
