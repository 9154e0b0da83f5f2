"""MOCO's own e2e manifests (``e2e/testdata/moco``), applied unchanged with the operator's defaults.

A user coming from MOCO applies the manifests they have. Each MySQLCluster manifest of MOCO's
e2e suite is applied as it is (its Namespace, ConfigMaps, Secrets, ServiceAccounts and
BackupPolicies with it); the only rendering is MOCO's own: the Go template ``{{ . }}`` /
``{{ .MySQLVersion }}`` becomes the version of mysqld here (the local provider tags its MySQL
image as MOCO's ``quay.io/cybozu/mysql`` and ``ghcr.io/cybozu-go/moco/mysql`` references, so
nothing is pulled) and ``{{ .RestorePoint }}`` a time. Nothing else is changed: the slow-log
sidecar runs (moco's own image by default), ``innodb_log_file_size`` is translated for MySQL 9,
the ``@every 10s`` rotation schedule is understood by the agent.

Three kinds of manifests (:data:`HEALTHY`, :data:`ACCEPTED`, :data:`UPDATES`):

* a cluster that must become Healthy (the clusters run three at a time, each namespace
  deleted once its case is checked); extra checks where MOCO's scenario does something the
  ground used to lack: single.yaml's slow query appears in ``kubectl logs -c slow-log`` and its
  agent does not restart; failover.yaml's primary is stopped with ``kill 1`` (the binary, as
  MOCO's e2e runs it) and another instance takes over;
* a cluster that cannot become Healthy here (a restore needs MOCO's backup in an object store,
  replication.yaml needs the Secret MOCO's scenario makes from the donor cluster): applied, and
  checked to be accepted and reconciled (the reason is in the test's id and its output);
* a later step of a MOCO scenario (``*_changed.yaml`` and friends, an update of a running
  cluster): checked to be accepted by the API server with a server-side dry run.

Not applied (not MySQLCluster manifests): ``client.yaml`` (a Pod running ``pause`` from MOCO's
image) and ``makebucket*.yaml`` (Jobs of MOCO's ``moco-backup:dev`` image for MinIO). Documents
of kind Job in a cluster's file (backup_azure.yaml creates a bucket in Azurite with
``mcr.microsoft.com/azure-cli``) are left out too: no such service or image exists here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl, KubectlError

#: every cluster of the file Healthy within HEALTHY_TIMEOUT, three at a time, plus the checks
pytestmark = pytest.mark.timeout(3600)

TESTDATA = Path(__file__).parent / "testdata" / "moco"
HEALTHY_TIMEOUT = 900.0
#: clusters applied ahead of the one being waited for
WINDOW = 3
RESTORE_POINT = "2026-01-01T00:00:00Z"

#: Manifests whose cluster must become Healthy, in the order they are run.
HEALTHY = (
    "single.yaml",
    "failover.yaml",
    "donor.yaml",
    "offline_test.yaml",
    "scaleup_single.yaml",
    "switchover.yaml",
    "stop.yaml",
    "partition.yaml",
    "credential_rotation.yaml",
    "failure.yaml",
    "backup_with_env.yaml",
    "prevent_delete.yaml",
    "pvc_test.yaml",
    "backup_azure.yaml",
    "backup_gcs.yaml",
    "upgrade.yaml",
    "backup_tls.yaml",
    "backup.yaml",
)
#: Manifests that are accepted but cannot become Healthy here, and why.
ACCEPTED = {
    "replication.yaml": "replicates from an external MySQL named by Secret repl/donor, which "
    "MOCO's scenario creates from the donor cluster; without it nothing is cloned",
    "restore.yaml": "restores MOCO's backup from MinIO (https://minio.default.svc), absent here",
    "restore1.yaml": "restores MOCO's backup from MinIO, absent here",
    "restore2.yaml": "restores MOCO's backup from MinIO, absent here",
    "restore_with_env.yaml": "restores MOCO's backup from MinIO, absent here",
    "restore_tls.yaml": "restores MOCO's backup from MinIO over TLS, absent here",
    "restore_gcs.yaml": "restores MOCO's backup from fake-gcs-server, absent here",
    "restore_azure.yaml": "restores MOCO's backup from Azurite, absent here",
}
#: Later steps of a MOCO scenario: an update of the cluster of another manifest.
UPDATES = {
    "offline_test_changed.yaml": "offline_test.yaml",
    "partition_changed.yaml": "partition.yaml",
    "partition_force_rollingupdate.yaml": "partition.yaml",
    "partition_image_pull_backoff.yaml": "partition.yaml",
    "partition_volume_template.yaml": "partition.yaml",
    "pvc_test_changed.yaml": "pvc_test.yaml",
    "stop_changed.yaml": "stop.yaml",
}
#: Refusals MOCO's own CRD makes too: the field does not exist in MOCO's API (a typo in the file).
EXPECTED_REFUSALS = {"restore.yaml": 'unknown field "spec.restore.jobConfig.bucketConfig.caCerts"'}
#: Where moco differs from MOCO today: the case fails until it is fixed (strict xfail: a fix
#: turns it into a failure that asks for the entry to be removed).
KNOWN_GAPS: dict[str, str] = {}
NOT_APPLIED = ("client.yaml", "makebucket.yaml", "makebucket_tls.yaml", "makebucket_with_env.yaml")


def mysql_version() -> str:
    from e2e.local import images

    return images.mysql_version()


def render(text: str) -> str:
    """MOCO's e2e templates: ``{{ . }}`` and ``{{ .MySQLVersion }}`` the mysqld version,
    ``{{ .RestorePoint }}`` a time."""
    text = re.sub(r"\{\{\s*\.RestorePoint\s*\}\}", RESTORE_POINT, text)
    return re.sub(r"\{\{\s*\.(MySQLVersion)?\s*\}\}", mysql_version(), text)


def documents(file: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render((TESTDATA / file).read_text())) if d]


def cluster_of(file: str) -> tuple[str, str]:
    """(namespace, name) of the file's MySQLCluster."""
    c = next(d for d in documents(file) if d["kind"] == "MySQLCluster")
    return c["metadata"]["namespace"], c["metadata"]["name"]


def to_apply(file: str) -> list[dict[str, Any]]:
    """The file's documents, Namespace first, without Jobs of services absent here."""
    docs = [d for d in documents(file) if d["kind"] != "Job"]
    return sorted(docs, key=lambda d: d["kind"] != "Namespace")


@dataclass
class Case:
    file: str
    namespace: str
    name: str
    #: documents the API server refused, with its message
    refused: list[tuple[str, str]] = field(default_factory=list)
    started: float = 0.0


@dataclass
class Pipeline:
    """Applies up to :data:`WINDOW` clusters ahead; a namespace is used by one case at a time."""

    kube: Kubectl
    #: the HEALTHY files this session runs (``-k`` may select a few)
    selected: set[str] = field(default_factory=set)
    cases: dict[str, Case] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    def start(self, file: str) -> Case:
        if file in self.cases:
            return self.cases[file]
        ns, name = cluster_of(file)
        self._wait_namespace_free(ns)
        case = Case(file, ns, name, started=time.monotonic())
        for doc in to_apply(file):
            try:
                self.kube("apply", "-f", "-", stdin=json.dumps(doc))
            except KubectlError as e:
                case.refused.append((f"{doc['apiVersion']} {doc['kind']} {doc['metadata']['name']}", str(e)))
        self.cases[file] = case
        print(f"[moco-testdata] applied {file} -> {ns}/{name} (refused: {case.refused})", flush=True)
        return case

    def _wait_namespace_free(self, ns: str) -> None:
        # Pods stop in up to terminationGracePeriodSeconds (300 s by default), claims after them
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            busy = [c for f, c in self.cases.items() if c.namespace == ns and f not in self.done]
            assert not busy, f"namespace {ns} is still in use by {busy[0].file}"
            phase = self.kube("get", "namespace", ns, "-o", "jsonpath={.status.phase}", check=False)
            if phase in ("", "Active"):  # absent, or not being deleted
                return
            time.sleep(2)
        raise AssertionError(f"namespace {ns} not deleted within 900s")

    def cases_in(self, ns: str) -> list[Case]:
        return [c for c in self.cases.values() if c.namespace == ns]

    def ahead(self, file: str) -> None:
        """Start the next clusters whose namespace is free (never more than WINDOW running)."""
        i = HEALTHY.index(file)
        running = {c.namespace for f, c in self.cases.items() if f not in self.done}
        for nxt in HEALTHY[i + 1 :]:
            if nxt not in self.selected:
                continue
            if len([f for f in self.cases if f not in self.done]) >= WINDOW:
                return
            if nxt in self.cases:
                continue
            ns, _ = cluster_of(nxt)
            if ns in running or self.cases_in(ns):
                continue
            self.start(nxt)
            running.add(ns)

    def finish(self, file: str) -> None:
        case = self.cases[file]
        self.done.add(file)
        self.kube(
            "delete", "mysqlclusters", "--all", f"--namespace={case.namespace}", "--wait=false", check=False
        )
        self.kube("delete", "namespace", case.namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def pipeline(kube: Kubectl, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    mc.require_moco(kube)
    selected = {
        str(item.callspec.params["file"])
        for item in request.session.items
        if isinstance(item, pytest.Function) and hasattr(item, "callspec") and "file" in item.callspec.params
    }
    p = Pipeline(kube, selected)
    yield p
    for f in list(p.cases):
        if f not in p.done:
            p.finish(f)


def test_every_manifest_is_classified() -> None:
    files = {p.name for p in TESTDATA.glob("*.yaml")}
    classified = set(HEALTHY) | set(ACCEPTED) | set(UPDATES) | set(NOT_APPLIED)
    assert files == classified, f"unclassified: {files - classified}, missing: {classified - files}"


# --- later steps: accepted by the API server ------------------------------------------------------
@pytest.mark.parametrize("file", sorted(UPDATES))
def test_update_step_is_accepted(kube: Kubectl, file: str) -> None:
    """A server-side dry run of the update on its base cluster's namespace (created if absent)."""
    cluster = next(d for d in documents(file) if d["kind"] == "MySQLCluster")
    ns = cluster["metadata"]["namespace"]
    created = not kube("get", "namespace", ns, "--ignore-not-found", "-o", "name")
    if created:
        kube("create", "namespace", ns)
    try:
        out = kube("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(cluster))
        assert "mysqlcluster" in out.lower(), out
        print(f"[moco-testdata] {file}: accepted (a later step of {UPDATES[file]})", flush=True)
    finally:
        if created:
            kube("delete", "namespace", ns, "--wait=true", "--timeout=120s", timeout=130, check=False)


# --- clusters that become Healthy -----------------------------------------------------------------
def _slow_log_shows_a_query(k: Kubectl, name: str) -> None:
    """single.yaml sets long_query_time 0: a marked query must reach the sidecar's stdout."""
    pod = f"moco-{name}-0"
    marker = f"moco_slow_log_probe_{int(time.time())}"
    cnf = "/mysql-credentials/moco-readonly-my.cnf"

    def seen() -> bool:
        # asked again each time: the agent rotates the file every 10 s (@every 10s)
        k(
            "exec",
            pod,
            "-c",
            "mysqld",
            "--",
            "mysql",
            f"--defaults-extra-file={cnf}",
            "-e",
            f"SELECT '{marker}'",
        )
        time.sleep(3)
        return marker in k("logs", pod, "-c", "slow-log", "--tail=5000")

    mc.wait(k, name, "the probe query in the slow-log sidecar's output", seen, timeout=90, interval=5)
    print(f"[moco-testdata] single.yaml: '{marker}' seen in kubectl logs -c slow-log", flush=True)


def _agent_not_restarted(k: Kubectl, name: str) -> None:
    pod = k.get("pod", f"moco-{name}-0")
    agent = next(s for s in pod["status"]["containerStatuses"] if s["name"] == "agent")
    assert agent["restartCount"] == 0, f"the agent restarted: {agent}"


def _failover_by_kill_1(k: Kubectl, name: str) -> None:
    """MOCO's failover step: ``kubectl exec ... -c mysqld -- kill 1`` on the primary, twice in a
    row (the second right after the first failover: MOCO #370)."""
    for n in (1, 2):
        old = mc.primary_index(k, name)
        k("exec", f"moco-{name}-{old}", "-c", "mysqld", "--", "kill", "1")

        def new_primary_healthy(old: int = old) -> bool:
            return mc.primary_index(k, name) != old and mc.is_healthy(k, name)

        mc.wait(k, name, f"a new primary and Healthy after kill 1 (#{n})", new_primary_healthy, timeout=240)


def _cases(files: Any) -> list[Any]:
    return [
        pytest.param(f, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[f])) if f in KNOWN_GAPS else f
        for f in files
    ]


@pytest.mark.parametrize("file", _cases(HEALTHY))
def test_cluster_becomes_healthy(pipeline: Pipeline, kube: Kubectl, file: str) -> None:
    case = pipeline.start(file)
    pipeline.ahead(file)
    k = kube.ns(case.namespace)
    try:
        # only MOCO's v1beta1 BackupPolicy may be refused (MOCO serves it through its conversion
        # webhook); the cluster is waited for first, so a refusal does not hide its state
        unexpected = [(what, err) for what, err in case.refused if "v1beta1 BackupPolicy" not in what]
        for what, err in case.refused:
            print(f"[moco-testdata] {file}: {what} refused: {err}", flush=True)
        mc.wait_healthy(k, case.name, timeout=HEALTHY_TIMEOUT)
        took = time.monotonic() - case.started
        print(
            f"[moco-testdata] {file}: {case.namespace}/{case.name} Healthy {took:.0f}s after apply",
            flush=True,
        )
        sidecars = {c["name"] for c in k.get("pod", f"moco-{case.name}-0")["spec"]["containers"]}
        assert "slow-log" in sidecars, sidecars
        if file == "single.yaml":
            _slow_log_shows_a_query(k, case.name)
            _agent_not_restarted(k, case.name)
        if file == "failover.yaml":
            _failover_by_kill_1(k, case.name)
        assert not unexpected, f"{file}: refused {unexpected}"
    finally:
        pipeline.finish(file)


# --- clusters accepted, not Healthy here ----------------------------------------------------------
@pytest.mark.parametrize("file", _cases(sorted(ACCEPTED)))
def test_cluster_is_accepted(pipeline: Pipeline, kube: Kubectl, file: str) -> None:
    ns, name = cluster_of(file)
    pipeline._wait_namespace_free(ns)
    created = not kube("get", "namespace", ns, "--ignore-not-found", "-o", "name")
    if created:  # restores name the namespace of MOCO's backup scenario
        kube("create", "namespace", ns)
    case = pipeline.start(file)
    k = kube.ns(ns)
    try:
        if file in EXPECTED_REFUSALS:
            assert any(EXPECTED_REFUSALS[file] in err for _, err in case.refused), case.refused
            print(f"[moco-testdata] {file}: refused as by MOCO's CRD: {case.refused}", flush=True)
            return
        assert not case.refused, case.refused

        def reconciled() -> dict[str, str]:
            return mc.conditions(k, name)

        conds = mc.wait(k, name, "the controller's status", reconciled, timeout=120)
        print(f"[moco-testdata] {file}: accepted, conditions {conds}; not Healthy here: {ACCEPTED[file]}")
        assert conds.get("Healthy") != "True"
    finally:
        pipeline.finish(file)
