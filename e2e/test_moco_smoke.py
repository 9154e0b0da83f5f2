"""moco itself on the cluster: its controller runs in a Pod, a 3-instance MySQLCluster becomes
Healthy, the primary Service takes writes and a replica Service serves them back.

This is the smoke test of the ground for the operator's scenarios: it needs moco deployed
(``make deploy``; ``make e2e`` on the local provider does it).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator

import pytest

from e2e import images
from e2e.kubectl import Kubectl, KubectlError

NAME = "smoke"


@pytest.fixture(scope="module")
def moco(kube: Kubectl) -> None:
    try:
        dep = kube.ns("moco-system").get("deployment", "moco-controller")
    except KubectlError:
        pytest.fail("moco is not deployed on this cluster: run `make deploy`")
    assert dep["status"].get("availableReplicas", 0) >= 1, dep["status"]


def _conditions(k: Kubectl) -> dict[str, str]:
    status = k.get("mysqlcluster", NAME).get("status") or {}
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


@pytest.fixture(scope="module")
def healthy(moco: None, k: Kubectl) -> Iterator[None]:
    cluster = {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "MySQLCluster",
        "metadata": {"name": NAME},
        "spec": {
            "replicas": 3,
            "disableSlowQueryLogContainer": True,
            "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": images.mysql_image()}]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "mysql-data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "256Mi"}},
                    },
                }
            ],
        },
    }
    k.apply(json.dumps(cluster))
    k.wait_for(lambda: _conditions(k).get("Healthy") == "True", timeout=420, interval=3)
    yield
    k("delete", "mysqlcluster", NAME, "--wait=false")


def _sql(k: Kubectl, service: str, user: str, key: str, sql: str) -> str:
    password = base64.b64decode(k.get("secret", f"moco-{NAME}")["data"][key]).decode()
    pod = f"moco-{NAME}-0"
    # --no-defaults: the pod's my.cnf gives the mysql client MOCO's interactive setting autocommit=0.
    return k.exec(
        pod,
        "mysql",
        "--no-defaults",
        "-h",
        service,
        "-u",
        user,
        f"-p{password}",
        "-N",
        "-B",
        "-e",
        sql,
        timeout=60,
    ).strip()


def test_controller_runs_in_a_pod(moco: None, kube: Kubectl) -> None:
    pods = kube.ns("moco-system").get("pods", "-l", "app.kubernetes.io/name=moco")["items"]
    assert any(p["status"]["phase"] == "Running" for p in pods)


def test_cluster_becomes_healthy_with_one_primary(healthy: None, k: Kubectl) -> None:
    pods = k.get("pods", "-l", f"app.kubernetes.io/instance={NAME}")["items"]
    roles = sorted(p["metadata"]["labels"].get("moco.cybozu.com/role", "") for p in pods)
    assert roles == ["primary", "replica", "replica"]


def test_write_on_primary_is_read_on_a_replica(healthy: None, k: Kubectl) -> None:
    token = secrets.token_hex(6)
    primary, replica = f"moco-{NAME}-primary", f"moco-{NAME}-replica"
    _sql(
        k,
        primary,
        "moco-writable",
        "WRITABLE_PASSWORD",
        "CREATE DATABASE IF NOT EXISTS e2e; CREATE TABLE IF NOT EXISTS e2e.t (v VARCHAR(32) PRIMARY KEY);"
        f"INSERT INTO e2e.t VALUES ('{token}')",
    )
    deadline = time.monotonic() + 30
    seen = ""
    while time.monotonic() < deadline and seen != token:
        seen = _sql(
            k, replica, "moco-readonly", "READONLY_PASSWORD", f"SELECT v FROM e2e.t WHERE v = '{token}'"
        )
        time.sleep(0.5)
    assert seen == token
