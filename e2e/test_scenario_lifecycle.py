"""Lifecycle: a MOCO example manifest becomes a Healthy 3-instance cluster, its Services serve
writes and reads with the generated credentials, and deleting it leaves the namespace as the
user had it.

The manifest is MOCO's ``custom-probe.yaml`` example (``unit_tests/api/examples``), changed only
where the ground requires (:func:`e2e.moco_cluster.example`: namespace and mysqld image); its
slow-query-log sidecar runs with moco's default image.

Deletion follows MOCO's semantics: every object moco created in the namespace carries an owner
reference to the MySQLCluster, the PVCs of the volume claim templates included (MOCO's
"Deleting the cluster": the PVCs go with the cluster), so the garbage collector removes them;
the controller-side Secret ``mysql-<ns>.<name>`` in moco's namespace goes through the
finalizer. What the user created (here a ConfigMap and the client Pod) stays.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl, KubectlError
from e2e.mysql_access import READONLY, WRITABLE, client_pod_manifest, sql_in_pod

#: cluster creation (up to 10 minutes on a loaded machine) + the scenario.
pytestmark = pytest.mark.timeout(1500)

EXAMPLE = "custom-probe.yaml"
CLIENT = "client"
#: the kinds a MySQLCluster makes moco create in its namespace (StatefulSet, Services, ConfigMaps,
#: Secrets, PVCs, PDB, ServiceAccount, Pods), checked before creation and after deletion.
KINDS = (
    "statefulsets.apps",
    "services",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "poddisruptionbudgets.policy",
    "serviceaccounts",
    "pods",
)


def inventory(k: Kubectl) -> set[str]:
    """``kind/name`` of every object of :data:`KINDS` in the namespace."""
    out = k("get", ",".join(KINDS), "-o", "name").split()
    return set(out)


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "lifecycle") as k:
        yield k


@pytest.fixture(scope="module")
def name() -> str:
    return str(mc.example(EXAMPLE, "x")["metadata"]["name"])


@pytest.fixture(scope="module")
def baseline(k: Kubectl) -> set[str]:
    """The user's own objects (a ConfigMap, a client Pod), created before the cluster."""
    k("create", "configmap", "user-settings", "--from-literal=owner=user")
    k.apply(json.dumps(client_pod_manifest(CLIENT)))
    k.wait_ready(f"pod/{CLIENT}", timeout=180)
    return inventory(k)


@pytest.fixture(scope="module")
def healthy(k: Kubectl, name: str, baseline: set[str]) -> float:
    mc.apply(k, mc.example(EXAMPLE, str(k.namespace)))
    return mc.wait_healthy(k, name)


def test_controller_runs_in_a_pod(kube: Kubectl) -> None:
    pods = kube.ns(mc.SYSTEM_NAMESPACE).get("pods", "-l", "app.kubernetes.io/name=moco")["items"]
    assert any(p["status"]["phase"] == "Running" for p in pods), [p["status"] for p in pods]


def test_example_becomes_healthy_with_one_primary(healthy: float, k: Kubectl, name: str) -> None:
    roles = mc.roles(k, name)
    assert sorted(roles.values()) == ["primary", "replica", "replica"], roles
    st = mc.status(k, name)
    assert f"moco-{name}-{st['currentPrimaryIndex']}" in roles
    assert roles[f"moco-{name}-{st['currentPrimaryIndex']}"] == "primary"
    assert st.get("syncedReplicas") == 3, st
    cond = mc.conditions(k, name)
    assert cond.get("Available") == "True", cond


def test_primary_service_takes_writes_replica_service_serves_them(
    healthy: float, k: Kubectl, name: str
) -> None:
    primary, replica = f"moco-{name}-primary", f"moco-{name}-replica"
    token = f"t{time.time_ns()}"
    sql_in_pod(
        k,
        CLIENT,
        primary,
        WRITABLE,
        name,
        "CREATE DATABASE IF NOT EXISTS e2e; CREATE TABLE IF NOT EXISTS e2e.t (v VARCHAR(32) PRIMARY KEY);"
        f"INSERT INTO e2e.t VALUES ('{token}')",
    )
    deadline = time.monotonic() + 60
    seen = ""
    while time.monotonic() < deadline and seen != token:
        seen = sql_in_pod(k, CLIENT, replica, READONLY, name, f"SELECT v FROM e2e.t WHERE v = '{token}'")
        if seen != token:
            time.sleep(0.5)
    assert seen == token, f"the write through {primary} was not read through {replica} within 60s"
    # The replica Service reaches read-only instances: a write through it is refused.
    with pytest.raises(KubectlError, match=r"read-only|read_only"):
        sql_in_pod(k, CLIENT, replica, WRITABLE, name, "INSERT INTO e2e.t VALUES ('via-replica')")


def test_delete_leaves_only_what_the_user_created(
    healthy: float, k: Kubectl, kube: Kubectl, name: str, baseline: set[str]
) -> None:
    controller_secret = f"mysql-{k.namespace}.{name}"
    sys_k = kube.ns(mc.SYSTEM_NAMESPACE)
    assert sys_k("get", "secret", controller_secret, "-o", "name", check=False).strip(), (
        f"controller Secret {controller_secret} missing while the cluster exists"
    )
    created = inventory(k) - baseline
    for expected in (
        f"statefulset.apps/moco-{name}",
        f"service/moco-{name}-primary",
        f"persistentvolumeclaim/mysql-data-moco-{name}-0",
        f"secret/moco-{name}",
        f"serviceaccount/moco-{name}",
        f"poddisruptionbudget.policy/moco-{name}",
    ):
        assert expected in created, f"{expected} not among the objects moco created: {sorted(created)}"

    k("delete", "mysqlcluster", name, "--wait=true", "--timeout=180s", timeout=200)

    def only_users_objects() -> bool:
        return inventory(k) == baseline

    try:
        mc.wait(k, name, "the namespace back to the user's objects", only_users_objects, timeout=240)
    except AssertionError as e:
        left = sorted(inventory(k) - baseline)
        gone = sorted(baseline - inventory(k))
        raise AssertionError(f"left behind: {left}; user objects gone: {gone}\n{e}") from None
    assert not sys_k("get", "secret", controller_secret, "-o", "name", check=False).strip(), (
        f"controller Secret {mc.SYSTEM_NAMESPACE}/{controller_secret} left behind"
    )
    assert k("get", "mysqlcluster", "-o", "name").strip() == ""
