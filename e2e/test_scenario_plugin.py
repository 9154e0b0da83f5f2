"""``kubectl moco`` on a real cluster: every operation of the scenario goes through the plugin as a
user runs it (``kubectl moco ...``, kubectl finding ``kubectl-moco`` on ``PATH``); kubectl itself
only checks what the plugin did.

A 3-instance cluster: ``credential`` gives passwords mysqld accepts; ``mysql`` runs SQL on the
primary and on a chosen replica; ``switchover --wait`` moves the primary; ``stop clustering``
makes the loop report ClusteringActive=False and ``switchover`` is refused until ``start
clustering``; ``stop``/``start reconciliation`` flip ReconciliationActive; ``status`` shows the
state, the next operation, the switchover recorded in ``status.clustering`` (from, to, write-
unavailable time) and each instance's figures read from its mysqld (GTID sets equal to what
mysqld says, semi-sync on both sides, replication threads and lag), as text and as JSON;
kubectl's own completion (``kubectl __complete moco ...``) reaches ``kubectl_complete-moco`` and
lists the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl, kubectl_path

#: cluster creation (up to 10 minutes on a loaded machine) + the scenario.
pytestmark = pytest.mark.timeout(1500)

NAME = "plugin"
CLUSTERING = "moco.cybozu.com/clustering-stopped"
RECONCILIATION = "moco.cybozu.com/reconciliation-stopped"


def plugin_env(k: Kubectl) -> dict[str, str]:
    """kubectl and this venv's ``bin`` (where ``kubectl-moco`` is installed) first on PATH, and
    the cluster in ``KUBECONFIG`` (kubectl refuses flags placed before a plugin's name)."""
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "kubectl-moco").exists(), f"kubectl-moco is not installed in {venv_bin} (make venv)"
    kubectl_dir = str(Path(kubectl_path()).resolve().parent)
    path = os.pathsep.join([kubectl_dir, str(venv_bin), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "KUBECONFIG": str(k.kubeconfig)}


def moco(
    k: Kubectl, *args: str, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``kubectl moco -n <ns> ARGS`` as a user types it (never raises on failure)."""
    argv = ["kubectl", "moco", "-n", str(k.namespace), *args]
    return subprocess.run(
        argv, input=stdin, env=plugin_env(k), capture_output=True, text=True, timeout=timeout, check=False
    )


def ok(k: Kubectl, *args: str, timeout: float = 120) -> str:
    r = moco(k, *args, timeout=timeout)
    assert r.returncode == 0, f"kubectl moco {' '.join(args)} -> {r.returncode}: {r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "plugin") as k:
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=3))
        mc.wait_healthy(k, NAME)
        yield k


def sql_as(k: Kubectl, pod: str, user: str, password: str, sql: str) -> str:
    """SQL with an explicit password, run by kubectl (checks what ``credential`` printed)."""
    return k(
        "exec",
        pod,
        "-c",
        "mysqld",
        "--",
        "mysql",
        "-h127.0.0.1",
        f"-u{user}",
        f"-p{password}",
        "-N",
        "-e",
        sql,
    ).strip()


def test_credential_gives_passwords_mysqld_accepts(k: Kubectl) -> None:
    primary = f"moco-{NAME}-{mc.primary_index(k, NAME)}"
    for user in ("moco-readonly", "moco-writable", "moco-admin"):
        password = ok(k, "credential", "-u", user, NAME).strip()
        assert len(password) >= 16, user
        assert sql_as(k, primary, user, password, "SELECT CURRENT_USER()") == f"{user}@%"
    mycnf = ok(k, "credential", "--format", "mycnf", NAME)
    assert mycnf.startswith("[client]\n")
    assert 'user="moco-readonly"' in mycnf


def test_mysql_runs_on_the_primary_and_on_a_chosen_instance(k: Kubectl) -> None:
    primary = mc.primary_index(k, NAME)
    ok(k, "mysql", "-u", "moco-writable", NAME, "--", "-e", "CREATE DATABASE IF NOT EXISTS plugin")
    ok(
        k,
        "mysql",
        "-u",
        "moco-writable",
        NAME,
        "--",
        "-e",
        "CREATE TABLE IF NOT EXISTS plugin.t (v INT PRIMARY KEY)",
    )
    # MOCO's my.cnf gives the mysql client autocommit=0 ([mysql] init_command): commit explicitly
    ok(k, "mysql", "-u", "moco-writable", NAME, "--", "-e", "REPLACE INTO plugin.t VALUES (1); COMMIT")
    assert ok(k, "mysql", NAME, "--", "-N", "-e", "SELECT @@hostname, @@read_only").split() == [
        f"moco-{NAME}-{primary}",
        "0",
    ]
    replica = (primary + 1) % 3
    out = ok(k, "mysql", "--index", str(replica), NAME, "--", "-N", "-e", "SELECT @@read_only")
    assert out.strip() == "1"
    # stdin reaches mysql with -i
    r = moco(k, "mysql", "-i", NAME, "--", "-N", stdin="SELECT COUNT(*) FROM plugin.t;\n")
    assert (r.returncode, r.stdout.strip()) == (0, "1"), r.stderr
    bad = moco(k, "mysql", "--index", "3", NAME)
    assert bad.returncode == 1
    assert "names none" in bad.stderr
    failed = moco(k, "mysql", NAME, "--", "-e", "SELECT * FROM nowhere.t")
    assert failed.returncode != 0, "mysql's failure is the plugin's exit code"


def test_switchover(k: Kubectl) -> None:
    old = mc.primary_index(k, NAME)
    out = ok(k, "switchover", "--wait", "--timeout", "300", NAME, timeout=360)
    new = mc.primary_index(k, NAME)
    assert new != old
    assert f"the primary is now moco-{NAME}-{new} (instance {new})" in out
    roles = mc.roles(k, NAME)
    assert roles[f"moco-{NAME}-{new}"] == "primary", roles
    mc.wait_healthy(k, NAME)
    status = ok(k, "status", NAME)
    assert status.startswith(f"MySQLCluster {k.namespace}/{NAME}: Healthy"), status
    assert "next operation: none" in status, status
    assert "last switchover/failover: Switchover" in status, status
    assert f"instance {old} -> {new}, writes unavailable " in status, status
    data = json.loads(ok(k, "status", "-o", "json", NAME))
    assert data["primaryIndex"] == new
    assert [i["role"] for i in data["instances"]].count("primary") == 1
    change = data["lastPrimaryChange"]
    assert (change["operation"], change["fromIndex"], change["toIndex"]) == ("Switchover", old, new)
    assert 0 < change["writeUnavailableSeconds"] < 60
    # the figures each mysqld gives now, as moco-readonly through kubectl exec
    primary_gtid = sql_as_readonly(k, new, "SELECT @@global.gtid_executed")
    mc.wait(k, NAME, "every instance has the primary's GTIDs", lambda: _same_gtids(k, primary_gtid), 120)
    data = json.loads(ok(k, "status", "-o", "json", NAME))
    for i, inst in enumerate(data["instances"]):
        assert inst["liveError"] is None, inst
        assert inst["gtidExecuted"] == primary_gtid, inst
        if i == new:
            assert (inst["readOnly"], inst["replication"]) == (False, None), inst
            assert inst["semiSync"] == "source ON (2)", inst
        else:
            assert (inst["readOnly"], inst["replication"]) == (True, "Yes/Yes"), inst
            assert inst["semiSync"] == "replica ON", inst
            assert 0 <= inst["replicationLagSeconds"] < 60, inst
    rows = [line for line in ok(k, "status", NAME).splitlines() if line.startswith(f"{new} ")]
    assert len(rows) == 1, rows
    assert "source ON (2)" in rows[0], rows


def sql_as_readonly(k: Kubectl, index: int, sql: str) -> str:
    """One value, by ``kubectl moco mysql`` as moco-readonly (batch output unescaped)."""
    out = ok(k, "mysql", "--index", str(index), NAME, "--", "-N", "-e", sql)
    return out.strip().replace("\\n", "")


def _same_gtids(k: Kubectl, want: str) -> bool:
    data = json.loads(ok(k, "status", "-o", "json", NAME))
    return all(i["gtidExecuted"] == want for i in data["instances"])


def condition(k: Kubectl, type_: str) -> str:
    return mc.conditions(k, NAME).get(type_, "")


def test_stop_and_start_clustering(k: Kubectl) -> None:
    assert (
        ok(k, "stop", "clustering", NAME).strip()
        == f"stopped clustering of MySQLCluster {k.namespace}/{NAME}"
    )
    assert k.get("mysqlcluster", NAME)["metadata"]["annotations"][CLUSTERING] == "true"
    mc.wait(k, NAME, "ClusteringActive False", lambda: condition(k, "ClusteringActive") == "False", 120)
    assert "already stopped" in ok(k, "stop", "clustering", NAME)
    refused = moco(k, "switchover", NAME)
    assert refused.returncode == 1
    assert f"clustering of MySQLCluster {k.namespace}/{NAME} is stopped" in refused.stderr
    assert "STOPPED" in ok(k, "status", NAME)
    assert (
        ok(k, "start", "clustering", NAME).strip()
        == f"started clustering of MySQLCluster {k.namespace}/{NAME}"
    )
    assert CLUSTERING not in (k.get("mysqlcluster", NAME)["metadata"].get("annotations") or {})
    mc.wait(k, NAME, "ClusteringActive True", lambda: condition(k, "ClusteringActive") == "True", 120)
    mc.wait_healthy(k, NAME)


def test_stop_and_start_reconciliation(k: Kubectl) -> None:
    ok(k, "stop", "reconciliation", NAME)
    assert k.get("mysqlcluster", NAME)["metadata"]["annotations"][RECONCILIATION] == "true"
    mc.wait(
        k, NAME, "ReconciliationActive False", lambda: condition(k, "ReconciliationActive") == "False", 120
    )
    ok(k, "start", "reconciliation", NAME)
    mc.wait(k, NAME, "ReconciliationActive True", lambda: condition(k, "ReconciliationActive") == "True", 120)
    assert "already running" in ok(k, "start", "reconciliation", NAME)


def test_kubectl_completes_the_plugin(k: Kubectl) -> None:
    argv = ["kubectl", "__complete", "moco", "-n", str(k.namespace), "switchover", ""]
    r = subprocess.run(argv, env=plugin_env(k), capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert NAME in r.stdout.splitlines(), r.stdout
