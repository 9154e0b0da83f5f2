"""Metrics and Events as a MOCO user reads them: the mysqld-exporter sidecar, the controller's
``moco_cluster_*`` series, the agents' ``moco_instance_*`` series, and the cluster's Event
reasons, through a switchover and a failover of a 3-instance cluster that sets ``collectors``.

Every scrape goes through the apiserver's Pod proxy
(``/api/v1/namespaces/NS/pods/POD:PORT/proxy/metrics``): the route Prometheus' Kubernetes
discovery does not need but every provider has (the local one's Pod network is reachable from the
host, kind's is not), and it reads exactly the port the container serves.

- exporter (port 9104, the controller's default image ``localhost/moco/mysqld-exporter``):
  ``mysql_up 1`` everywhere, ``mysql_global_variables_read_only`` 0 on the primary and 1 on the
  replicas, before and after each primary change, and no collector fails (the exporter's
  defaults and each named one, ``slave_hosts`` included);
- controller (port 8081; the leader is the replica of the Deployment that has the cluster's
  series): ``moco_cluster_healthy``/``available`` 1, ``replicas`` 3, ``ready_replicas`` 3,
  ``switchover_total`` 1 after the switchover, ``failover_total`` 1 after the failover;
- agents (port 8080), labels ``name`` and ``index``: ``moco_instance_clone_count`` and
  ``clone_in_progress`` 0 for each instance (this cluster is never cloned into),
  ``replication_delay_seconds`` on each replica and not on the primary;
- ``status.clustering.lastPrimaryChange`` names the failover (from, to, write-unavailable ms);
- Events of the MySQLCluster: MOCO's reasons ``SwitchOver``, ``FailOver`` and ``Writable``.

Recorded: the values read after each step, as junit suite properties.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl, KubectlError
from moco.constants import MYCNF_SECRET_PATH, WRITABLE_USER, mycnf_key

#: cluster creation (up to 10 minutes on a loaded machine) + two primary changes.
pytestmark = pytest.mark.timeout(1800)

NAME = "metrics"
REPLICAS = 3
#: MOCO's example collectors (``collect-metrics.yaml``), plus two more the exporter user may run.
COLLECTORS = ["engine_innodb_status", "info_schema.innodb_metrics", "binlog_size", "slave_hosts"]
EXPORTER_PORT = 9104
AGENT_METRICS_PORT = 8080
CONTROLLER_METRICS_PORT = 8081
DEMOTE = "moco.cybozu.com/demote"
CHANGE_TIMEOUT = 420.0

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out.append(Sample(m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def value(samples: list[Sample], metric: str, /, **labels: str) -> float | None:
    """The value of the one sample ``metric`` whose labels include ``labels`` (None when absent)."""
    hits = [s for s in samples if s.name == metric and labels.items() <= s.labels.items()]
    assert len(hits) <= 1, f"{metric}{labels}: {len(hits)} samples"
    return hits[0].value if hits else None


def scrape(kube: Kubectl, namespace: str, pod: str, port: int) -> list[Sample]:
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/metrics"
    return parse(Kubectl(kube.kubeconfig)("get", "--raw", path, timeout=30))


def pod(i: int) -> str:
    return f"moco-{NAME}-{i}"


# --- the parts ------------------------------------------------------------------------------------
def exporters(k: Kubectl) -> dict[int, list[Sample]]:
    ns = str(k.namespace)
    return {i: scrape(k, ns, pod(i), EXPORTER_PORT) for i in range(REPLICAS)}


def read_only_by_index(k: Kubectl) -> dict[int, float | None]:
    return {i: value(s, "mysql_global_variables_read_only") for i, s in exporters(k).items()}


def check_exporters(k: Kubectl) -> dict[int, float | None]:
    """The exporter of every Pod answers, reads its mysqld, and read_only follows the role."""
    primary = mc.primary_index(k, NAME)
    by_index = exporters(k)
    for i, samples in by_index.items():
        assert value(samples, "mysql_up") == 1, f"{pod(i)}: mysql_up is not 1"
        for c in COLLECTORS:
            ok = value(samples, "mysql_exporter_collector_success", collector=f"collect.{c}")
            assert ok == 1, f"{pod(i)}: collector {c} -> {ok}"
        failed = [
            s.labels.get("collector")
            for s in samples
            if s.name == "mysql_exporter_collector_success" and s.value != 1
        ]
        assert not failed, f"{pod(i)}: collectors failed: {failed}"
    read_only = {i: value(s, "mysql_global_variables_read_only") for i, s in by_index.items()}
    want = {i: 0.0 if i == primary else 1.0 for i in range(REPLICAS)}
    assert read_only == want, f"primary {primary}: read_only {read_only}"
    return read_only


def controller_samples(kube: Kubectl) -> list[Sample]:
    """The /metrics of the controller Pod that runs this cluster's loop (the leader)."""
    ctl = kube.ns(mc.SYSTEM_NAMESPACE)
    pods = ctl.get("pods", "-l", "app.kubernetes.io/name=moco")["items"] or ctl.get("pods")["items"]
    seen = []
    for p in pods:
        name = p["metadata"]["name"]
        if not name.startswith(mc.CONTROLLER) or p["status"].get("phase") != "Running":
            continue
        try:
            samples = scrape(kube, mc.SYSTEM_NAMESPACE, name, CONTROLLER_METRICS_PORT)
        except KubectlError as e:
            seen.append(f"{name}: {e}")
            continue
        if value(samples, "moco_cluster_replicas", name=NAME, namespace=str(kube.namespace)) is not None:
            return samples
        seen.append(f"{name}: no series of {NAME}")
    raise AssertionError(f"no controller Pod exposes moco_cluster_* of {NAME}: {seen}")


def cluster_values(k: Kubectl) -> dict[str, float | None]:
    samples = controller_samples(k)
    labels = {"name": NAME, "namespace": str(k.namespace)}
    names = (
        "healthy",
        "available",
        "replicas",
        "ready_replicas",
        "errant_replicas",
        "clustering_stopped",
        "switchover_total",
        "failover_total",
        "checks_total",
    )
    unavailable = {
        f"write_unavailable_seconds_count_{op}": value(
            samples, "moco_cluster_write_unavailable_seconds_count", operation=op, **labels
        )
        for op in ("switchover", "failover")
    }
    return {n: value(samples, f"moco_cluster_{n}", **labels) for n in names} | unavailable


def agent_values(k: Kubectl) -> dict[int, dict[str, float | None]]:
    out = {}
    for i in range(REPLICAS):
        samples = scrape(k, str(k.namespace), pod(i), AGENT_METRICS_PORT)
        labels = {"name": NAME, "index": str(i)}
        out[i] = {
            n: value(samples, f"moco_instance_{n}", **labels)
            for n in ("clone_count", "clone_failure_count", "clone_in_progress", "replication_delay_seconds")
        }
    return out


def _delay_on_replicas_only(k: Kubectl) -> dict[int, dict[str, float | None]] | None:
    """The agents' series once each replica's readiness check has set its delay (kubelet
    probes every few seconds) and the primary has none; else None."""
    primary = mc.primary_index(k, NAME)
    agents = agent_values(k)
    delays = {i: a["replication_delay_seconds"] for i, a in agents.items()}
    if delays[primary] is None and all(d is not None and d < 60 for i, d in delays.items() if i != primary):
        return agents
    return None


def event_reasons(k: Kubectl) -> list[str]:
    events = k.get(
        "events", "--field-selector", f"involvedObject.kind=MySQLCluster,involvedObject.name={NAME}"
    )
    return [e.get("reason", "") for e in events["items"]]


def wait_until(k: Kubectl, what: str, check: Callable[[], object], timeout: float = 120) -> object:
    return mc.wait(k, NAME, what, check, timeout, interval=2.0)


# --- the scenario ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "metrics") as k:
        manifest = mc.minimal(NAME, str(k.namespace), replicas=REPLICAS)
        manifest["spec"]["collectors"] = COLLECTORS
        mc.apply(k, manifest)
        mc.wait_healthy(k, NAME)
        yield k


def test_metrics_and_events_through_switchover_and_failover(
    k: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    sts = k.get("statefulset", f"moco-{NAME}")
    containers = {c["name"]: c for c in sts["spec"]["template"]["spec"]["containers"]}
    exporter = containers["mysqld-exporter"]
    record_testsuite_property("exporter_image", exporter["image"])
    assert [a for a in exporter["args"] if a.startswith("--collect.")] == [
        f"--collect.{c}" for c in COLLECTORS
    ]

    # Healthy: every exporter reads its mysqld; the loop's gauges say so (it may take a pass)
    record_testsuite_property("read_only_created", json.dumps(check_exporters(k)))
    wait_until(
        k, "moco_cluster_healthy 1 and ready_replicas 3", lambda: _steady(k, switchovers=0, failovers=0)
    )
    # a replica's delay appears once it has received a transaction (MOCO's rule): write one
    write_one(k, mc.primary_index(k, NAME), 1)
    agents = wait_until(
        k, "replication_delay_seconds on the replicas only", lambda: _delay_on_replicas_only(k)
    )
    record_testsuite_property("agents_created", json.dumps(agents))
    assert isinstance(agents, dict)
    for i, a in agents.items():
        assert a["clone_count"] is not None, f"{pod(i)}: no moco_instance_clone_count"
        assert a["clone_in_progress"] == 0, f"{pod(i)}: {a}"
    assert "Writable" in event_reasons(k), event_reasons(k)

    # switchover: the demote annotation on the primary's Pod, as `kubectl moco switchover` does
    old = mc.primary_index(k, NAME)
    k("annotate", "pod", pod(old), f"{DEMOTE}=true")
    t0 = time.monotonic()
    mc.wait(k, NAME, "switchover done", lambda: _moved(k, old), CHANGE_TIMEOUT)
    record_testsuite_property("switchover_healthy_after_s", round(time.monotonic() - t0, 1))
    values = wait_until(k, "switchover_total 1", lambda: _steady(k, switchovers=1, failovers=0))
    record_testsuite_property("cluster_after_switchover", json.dumps(values))
    record_testsuite_property("read_only_after_switchover", json.dumps(check_exporters(k)))
    wait_until(k, "a SwitchOver Event", lambda: "SwitchOver" in event_reasons(k))

    # a transaction first: with none at all no replica holds data and none may take over (MOCO's
    # rule); a crashed primary is then restarted in place instead of failed over
    old = mc.primary_index(k, NAME)
    write_one(k, old, 2)
    # failover: mysqld of the primary stops (`kill 1` in its container, as MOCO's e2e does)
    k("exec", pod(old), "-c", "mysqld", "--", "sh", "-c", "kill 1")
    t0 = time.monotonic()
    mc.wait(k, NAME, "failover done", lambda: _moved(k, old), CHANGE_TIMEOUT)
    record_testsuite_property("failover_healthy_after_s", round(time.monotonic() - t0, 1))
    values = wait_until(k, "failover_total 1, healthy 1", lambda: _steady(k, switchovers=1, failovers=1), 300)
    record_testsuite_property("cluster_after_failover", json.dumps(values))
    # the old primary's mysqld restarted and rejoined: its exporter reads it again as a replica
    wait_until(k, "every exporter reads its mysqld with the new roles", lambda: _exporters_ok(k), 300)
    record_testsuite_property("read_only_after_failover", json.dumps(check_exporters(k)))
    wait_until(k, "a FailOver Event", lambda: "FailOver" in event_reasons(k))
    change = k.get("mysqlcluster", NAME)["status"]["clustering"]["lastPrimaryChange"]
    record_testsuite_property("last_primary_change", json.dumps(change))
    assert (change["operation"], change["fromIndex"]) == ("Failover", old), change
    assert change["toIndex"] == mc.primary_index(k, NAME), change
    assert 0 < change["writeUnavailableMillis"] < 120_000, change
    reasons = event_reasons(k)
    record_testsuite_property("event_reasons", json.dumps(sorted(set(reasons))))
    for reason in ("SwitchOver", "FailOver", "Writable"):
        assert reason in reasons, reasons
    agents = agent_values(k)
    record_testsuite_property("agents_after_failover", json.dumps(agents))
    for i, a in agents.items():
        assert a["clone_in_progress"] == 0, f"{pod(i)}: {a}"
        assert a["clone_failure_count"] == 0, f"{pod(i)}: {a}"


def write_one(k: Kubectl, primary: int, row: int) -> None:
    """One committed row through the primary, as moco-writable."""
    k(
        "exec",
        pod(primary),
        "-c",
        "mysqld",
        "--",
        "mysql",
        f"--defaults-extra-file={MYCNF_SECRET_PATH}/{mycnf_key(WRITABLE_USER)}",
        "-e",
        "CREATE DATABASE IF NOT EXISTS m; CREATE TABLE IF NOT EXISTS m.t (id INT PRIMARY KEY);"
        f" INSERT INTO m.t VALUES ({row}); COMMIT;",
    )


def _moved(k: Kubectl, old: int) -> bool:
    return mc.primary_index(k, NAME) != old and mc.is_healthy(k, NAME)


def _steady(k: Kubectl, *, switchovers: int, failovers: int) -> dict[str, float | None] | None:
    """The cluster's series when they say: Healthy, all ready, these totals; else None."""
    try:
        v = cluster_values(k)
    except AssertionError:  # the leader has no series of the cluster yet
        return None
    want = {
        "healthy": 1.0,
        "available": 1.0,
        "replicas": float(REPLICAS),
        "ready_replicas": float(REPLICAS),
        "errant_replicas": 0.0,
        "clustering_stopped": 0.0,
        "switchover_total": float(switchovers),
        "failover_total": float(failovers),
    }
    return v if all(v[n] == w for n, w in want.items()) else None


def _exporters_ok(k: Kubectl) -> bool:
    try:
        check_exporters(k)
    except (AssertionError, KubectlError):  # mysqld (or its Pod) still restarting
        return False
    return True
