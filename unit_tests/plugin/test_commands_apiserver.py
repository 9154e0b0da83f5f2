"""``kubectl-moco`` against a real kube-apiserver: every subcommand's reads, writes, refusals,
messages and exit codes on real MySQLCluster, Pod, Secret and Event objects.

There is no kubelet here: Pods are objects whose status the tests write, and nothing acts on a
demote annotation but the tests themselves (playing the clustering loop where a test needs it).
The commands run in-process through click's runner (in a thread: the plugin runs its own event
loop), except ``mysql``, which replaces its process with ``kubectl exec`` and so runs as a
child process with ``KUBECTL`` naming a recorder script.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from moco import constants
from moco.cli.kubectl_moco import cli, cobra_completions
from moco.kube.client import Client
from moco.kube.events import event_for
from moco.kube.resource import EVENTS, PODS, SECRETS
from moco.plugin.session import MYSQLCLUSTERS
from moco.testing.envtest import Envtest

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(180)]


def manifest(ns: str, name: str, replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": MYSQLCLUSTERS.api_version,
        "kind": "MySQLCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": "mysql:test"}]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "mysql-data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
            **spec,
        },
    }


async def make_cluster(
    kube: Client, ns: str, name: str = "db", *, replicas: int = 3, primary: int = 0, **spec: Any
) -> dict[str, Any]:
    obj = await kube.create(MYSQLCLUSTERS, manifest(ns, name, replicas, **spec))
    obj["status"] = {
        "currentPrimaryIndex": primary,
        "syncedReplicas": replicas,
        "conditions": [
            {
                "type": "Healthy",
                "status": "True",
                "reason": "Healthy",
                "message": "the current state is Healthy",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }
    return await kube.update_status(MYSQLCLUSTERS, obj)


async def make_pods(
    kube: Client, ns: str, name: str, replicas: int, primary: int, *, running: bool = True
) -> None:
    for i in range(replicas):
        role = constants.ROLE_PRIMARY if i == primary else constants.ROLE_REPLICA
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"moco-{name}-{i}",
                "namespace": ns,
                "labels": {
                    constants.LABEL_APP_NAME: constants.APP_NAME_MYSQL,
                    constants.LABEL_APP_INSTANCE: name,
                    constants.LABEL_ROLE: role,
                },
            },
            "spec": {"nodeName": f"node{i}", "containers": [{"name": "mysqld", "image": "mysql:test"}]},
        }
        await kube.create(PODS, pod)
        if running:
            status = {
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                        {
                            "name": "mysqld",
                            "image": "mysql:test",
                            "imageID": "",
                            "ready": True,
                            "restartCount": i,
                            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                        }
                    ],
                }
            }
            await kube.patch(PODS, f"moco-{name}-{i}", status, ns, subresource="status")


def run(apiserver: Envtest, ns: str | None, *args: str, kubeconfig: Path | None = None) -> Result:
    argv = ["--kubeconfig", str(kubeconfig or apiserver.kubeconfig)]
    if ns:
        argv += ["-n", ns]
    return CliRunner().invoke(cli, [*argv, *args])


async def arun(apiserver: Envtest, ns: str | None, *args: str, kubeconfig: Path | None = None) -> Result:
    return await asyncio.to_thread(run, apiserver, ns, *args, kubeconfig=kubeconfig)


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


# --- switchover ----------------------------------------------------------------------------------
async def test_switchover_marks_the_primary_once(apiserver: Envtest, kube: Client, namespace: str) -> None:
    await make_cluster(kube, namespace, primary=1)
    await make_pods(kube, namespace, "db", 3, 1)
    res = await arun(apiserver, namespace, "switchover", "db")
    assert res.exit_code == 0, res.output
    assert f"switchover of MySQLCluster {namespace}/db requested" in res.output
    pods = {i: await kube.get(PODS, f"moco-db-{i}", namespace) for i in range(3)}
    assert annotations(pods[1]).get(constants.ANN_DEMOTE) == "true"
    assert constants.ANN_DEMOTE not in annotations(pods[0])
    again = await arun(apiserver, namespace, "switchover", "db")
    assert again.exit_code == 0, again.output
    assert "already requested" in again.output


REFUSALS = [
    # (case, replicas, spec, annotations, fragment)
    ("single instance", 1, {}, {}, "single-instance cluster"),
    ("offline", 3, {"offline": True}, {}, "is offline"),
    (
        "clustering stopped",
        3,
        {},
        {constants.ANN_CLUSTERING_STOPPED: "true"},
        "kubectl moco start clustering db",
    ),
]


@pytest.mark.parametrize(
    ("case", "replicas", "spec", "anns", "fragment"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
async def test_switchover_refusals_change_nothing(
    apiserver: Envtest,
    kube: Client,
    namespace: str,
    case: str,
    replicas: int,
    spec: dict[str, Any],
    anns: dict[str, str],
    fragment: str,
) -> None:
    await make_cluster(kube, namespace, replicas=replicas, **spec)
    if anns:
        await kube.patch(MYSQLCLUSTERS, "db", {"metadata": {"annotations": anns}}, namespace)
    await make_pods(kube, namespace, "db", replicas, 0)
    res = await arun(apiserver, namespace, "switchover", "db")
    assert res.exit_code == 1, (case, res.output)
    assert fragment in res.stderr, case
    assert f"{namespace}/db" in res.stderr, case
    pod = await kube.get(PODS, "moco-db-0", namespace)
    assert constants.ANN_DEMOTE not in annotations(pod), case


async def test_switchover_of_a_missing_cluster(apiserver: Envtest, namespace: str) -> None:
    res = await arun(apiserver, namespace, "switchover", "nope")
    assert res.exit_code == 1
    assert f"MySQLCluster {namespace}/nope not found" in res.stderr
    assert "-n" in res.stderr


async def test_switchover_wait(apiserver: Envtest, kube: Client, namespace: str) -> None:
    await make_cluster(kube, namespace, primary=0)
    await make_pods(kube, namespace, "db", 3, 0)

    async def loop_plays_switchover() -> None:
        while True:  # what the clustering loop does when it sees the annotation
            pod = await kube.get(PODS, "moco-db-0", namespace)
            if annotations(pod).get(constants.ANN_DEMOTE) == "true":
                break
            await asyncio.sleep(0.2)

        def promote(obj: dict[str, Any]) -> None:
            obj["status"]["currentPrimaryIndex"] = 2

        await kube.update_status_with_retry(MYSQLCLUSTERS, "db", namespace, promote)
        await kube.patch(
            PODS, "moco-db-0", {"metadata": {"annotations": {constants.ANN_DEMOTE: None}}}, namespace
        )
        await asyncio.sleep(1.5)  # --wait must not return before the role labels follow
        assert not returned.is_set()
        for pod, role in (("moco-db-0", constants.ROLE_REPLICA), ("moco-db-2", constants.ROLE_PRIMARY)):
            await kube.patch(PODS, pod, {"metadata": {"labels": {constants.LABEL_ROLE: role}}}, namespace)

    returned = asyncio.Event()
    loop = asyncio.create_task(loop_plays_switchover())
    res = await arun(apiserver, namespace, "switchover", "--wait", "--timeout", "60", "db")
    returned.set()
    await loop
    assert res.exit_code == 0, res.output
    assert "the primary is now moco-db-2 (instance 2)" in res.output

    # nobody acts on the next request: --wait gives up with 3, and the request stays
    timed_out = await arun(apiserver, namespace, "switchover", "--wait", "--timeout", "1", "db")
    assert timed_out.exit_code == 3, timed_out.output
    assert "no switchover within 1s" in timed_out.stderr
    pod = await kube.get(PODS, "moco-db-2", namespace)
    assert annotations(pod).get(constants.ANN_DEMOTE) == "true"


# --- stop / start --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("what", "annotation"),
    [
        ("clustering", constants.ANN_CLUSTERING_STOPPED),
        ("reconciliation", constants.ANN_RECONCILIATION_STOPPED),
    ],
)
async def test_stop_and_start(
    apiserver: Envtest, kube: Client, namespace: str, what: str, annotation: str
) -> None:
    await make_cluster(kube, namespace)
    ref = f"{namespace}/db"
    steps = [
        ("stop", f"stopped {what} of MySQLCluster {ref}", "true"),
        ("stop", f"{what} of MySQLCluster {ref} is already stopped", "true"),
        ("start", f"started {what} of MySQLCluster {ref}", None),
        ("start", f"{what} of MySQLCluster {ref} is already running", None),
    ]
    for verb, said, value in steps:
        res = await arun(apiserver, namespace, verb, what, "db")
        assert res.exit_code == 0, res.output
        assert res.output.strip() == said
        obj = await kube.get(MYSQLCLUSTERS, "db", namespace)
        assert annotations(obj).get(annotation) == value, (verb, what)
    missing = await arun(apiserver, namespace, "stop", what, "nope")
    assert missing.exit_code == 1
    assert f"MySQLCluster {namespace}/nope not found" in missing.stderr


# --- credential ----------------------------------------------------------------------------------
async def test_credential(apiserver: Envtest, kube: Client, namespace: str) -> None:
    absent = await arun(apiserver, namespace, "credential", "db")
    assert absent.exit_code == 1
    assert f"Secret {namespace}/moco-db of MySQLCluster {namespace}/db does not exist yet" in absent.stderr
    data = {"READONLY_PASSWORD": "ro-pw", "WRITABLE_PASSWORD": "rw-pw", "ADMIN_PASSWORD": "admin-pw"}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "moco-db", "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
    await kube.create(SECRETS, secret)
    res = await arun(apiserver, namespace, "credential", "db")
    assert (res.exit_code, res.output) == (0, "ro-pw\n")
    res = await arun(apiserver, namespace, "credential", "-u", "moco-writable", "db")
    assert res.output == "rw-pw\n"
    res = await arun(
        apiserver, namespace, "credential", "--mysql-user", "moco-admin", "--format", "mycnf", "db"
    )
    assert res.output == '[client]\nuser="moco-admin"\npassword="admin-pw"\n'


# --- status --------------------------------------------------------------------------------------
async def test_status(apiserver: Envtest, kube: Client, namespace: str) -> None:
    obj = await make_cluster(kube, namespace, primary=1)
    # moco's own status.clustering, as the loop writes it: the CRD admits it and the plugin reads it
    obj["status"]["clustering"] = {
        "nextOperation": "None",
        "nextOperationReason": "",
        "lastPrimaryChange": {
            "operation": "Switchover",
            "time": "2026-01-01T00:00:00Z",
            "fromIndex": 0,
            "toIndex": 1,
            "writeUnavailableMillis": 420,
            "reason": "primary Pod: demote annotation",
        },
    }
    obj = await kube.update_status(MYSQLCLUSTERS, obj)
    assert obj["status"]["clustering"]["lastPrimaryChange"]["writeUnavailableMillis"] == 420
    await make_pods(kube, namespace, "db", 3, 1)
    await kube.create(EVENTS, event_for(obj, "Normal", "SwitchOver", "the primary is now instance 1", "moco"))
    await kube.create(
        EVENTS, event_for(obj, "Warning", "ErrantReplicaFenced", "instance 2 is errant", "moco")
    )
    other = manifest(namespace, "other")
    await kube.create(MYSQLCLUSTERS, other)
    await kube.create(EVENTS, event_for(other, "Normal", "FailOver", "not about db", "moco"))
    res = await arun(apiserver, namespace, "status", "--no-live", "db")
    assert res.exit_code == 0, res.output
    text = res.output
    assert text.startswith(f"MySQLCluster {namespace}/db: Healthy  (instances 3, primary 1, synced 3)")
    assert "why: the current state is Healthy" in text
    assert "next operation: none" in text
    assert "last switchover/failover: Switchover" in text
    assert "instance 0 -> 1, writes unavailable 0.42s (primary Pod: demote annotation)" in text
    assert "the primary is now instance 1" in text
    assert "not about db" not in text
    rows = {line.split()[1]: line.split() for line in text.splitlines() if line[:1].isdigit()}
    assert rows["moco-db-1"][2:6] == ["node1", "primary", "true", "1"]
    # live figures: these Pods run on no node, so no exec reaches a mysqld; each says why
    res = await arun(apiserver, namespace, "status", "-o", "json", "db")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert all(i["liveError"] and i["gtidExecuted"] is None for i in data["instances"]), data["instances"]
    assert [i["role"] for i in data["instances"]] == ["replica", "primary", "replica"]
    assert {e["reason"] for e in data["events"]} == {"SwitchOver", "ErrantReplicaFenced"}


# --- kubectl's global flags, RBAC, completion ----------------------------------------------------
async def test_namespace_comes_from_the_context(
    apiserver: Envtest, kube: Client, namespace: str, tmp_path: Path
) -> None:
    await make_cluster(kube, namespace)
    doc = yaml.safe_load(apiserver.kubeconfig.read_text())
    for ctx in doc["contexts"]:
        ctx["context"]["namespace"] = namespace
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump(doc))
    res = await arun(apiserver, None, "stop", "clustering", "db", kubeconfig=kc)
    assert res.exit_code == 0, res.output
    assert f"{namespace}/db" in res.output
    res = await arun(apiserver, None, "--context", "nowhere", "status", "db", kubeconfig=kc)
    assert res.exit_code == 1
    assert 'context "nowhere" does not exist' in res.stderr


async def test_rbac_refusal_is_named(apiserver: Envtest, kube: Client, namespace: str) -> None:
    await make_cluster(kube, namespace)
    kc = await asyncio.to_thread(apiserver.mint_kubeconfig, "nobody")
    res = await arun(apiserver, namespace, "switchover", "db", kubeconfig=kc)
    assert res.exit_code == 1
    assert f"reading MySQLCluster {namespace}/db: forbidden by RBAC" in res.stderr


async def test_cluster_names_complete(apiserver: Envtest, kube: Client, namespace: str) -> None:
    await make_cluster(kube, namespace, "alpha")
    await make_cluster(kube, namespace, "beta")
    words = ["--kubeconfig", str(apiserver.kubeconfig), "-n", namespace, "switchover", ""]
    out = await asyncio.to_thread(cobra_completions, words)
    assert out.splitlines() == ["alpha", "beta", ":4"]
    out = await asyncio.to_thread(cobra_completions, [*words[:-1], "b"])
    assert out.splitlines() == ["beta", ":4"]


# --- mysql (a child process: it becomes kubectl) -------------------------------------------------
RECORDER = """#!/bin/sh
printf '%s\\n' "$@" > "$RECORD"
exit 7
"""


def plugin(apiserver: Envtest, ns: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "moco.cli.kubectl_moco", "--kubeconfig", str(apiserver.kubeconfig)]
    return subprocess.run(
        [*argv, "-n", ns, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_mysql_execs_kubectl_in_the_chosen_pod(
    apiserver: Envtest, kube: Client, namespace: str, tmp_path: Path
) -> None:
    await make_cluster(kube, namespace, primary=2)
    await make_pods(kube, namespace, "db", 3, 2)
    recorder = tmp_path / "kubectl"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    record = tmp_path / "argv"
    env = {"KUBECTL": str(recorder), "RECORD": str(record)}
    r = await asyncio.to_thread(
        plugin, apiserver, namespace, "mysql", "db", "--", "-N", "-e", "SELECT 1", env=env
    )
    assert r.returncode == 7, r.stderr  # kubectl's exit code is the plugin's
    argv = record.read_text().splitlines()
    assert argv[:4] == [
        f"--kubeconfig={apiserver.kubeconfig}",
        f"--namespace={namespace}",
        "exec",
        "moco-db-2",
    ]
    assert argv[4:] == [
        "--container=mysqld",
        "--",
        "mysql",
        "--defaults-extra-file=/mysql-credentials/moco-readonly-my.cnf",
        "-N",
        "-e",
        "SELECT 1",
    ]
    r = await asyncio.to_thread(
        plugin, apiserver, namespace, "mysql", "-it", "-u", "moco-admin", "--index", "0", "db", env=env
    )
    argv = record.read_text().splitlines()
    assert argv[2:6] == ["exec", "--stdin", "--tty", "moco-db-0"]
    assert argv[-1] == "--defaults-extra-file=/mysql-credentials/moco-admin-my.cnf"

    record.unlink()
    r = await asyncio.to_thread(plugin, apiserver, namespace, "mysql", "--index", "3", "db", env=env)
    assert r.returncode == 1
    assert "--index 3 names none" in r.stderr
    assert not record.exists(), "a refusal runs nothing"


async def test_mysql_refuses_a_pod_that_does_not_run(
    apiserver: Envtest, kube: Client, namespace: str, tmp_path: Path
) -> None:
    await make_cluster(kube, namespace)
    await make_pods(kube, namespace, "db", 3, 0, running=False)
    env = {"KUBECTL": "/bin/true"}
    r = await asyncio.to_thread(plugin, apiserver, namespace, "mysql", "db", env=env)
    assert r.returncode == 1
    assert f"Pod moco-db-0 of MySQLCluster {namespace}/db is Pending, not Running" in r.stderr
    await make_cluster(kube, namespace, "off", offline=True)
    r = await asyncio.to_thread(plugin, apiserver, namespace, "mysql", "off", env=env)
    assert r.returncode == 1
    assert "is offline" in r.stderr
