"""Clone in real Pods: new replicas of a scale-out (3 -> 5) and a replica whose data was wiped
are seeded by CLONE from the primary, and the cluster becomes Healthy again.

In a Pod mysqld is the container's main process and has no supervisor: ``CLONE INSTANCE``
answers error 3707 and mysqld shuts down after copying the data; kubelet restarts the container
and the agent initialises the restarted instance. A replica is "wiped" the way MOCO's manual
says to re-initialise one: its PersistentVolumeClaim is deleted, then its Pod; the StatefulSet
re-creates both, empty.

Recorded: ``clone_scale_out_s`` and ``clone_wiped_s`` (to Healthy with every instance synced).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl, KubectlError
from e2e.mysql_access import READONLY, WRITABLE, user_password

#: cluster creation (up to 10 minutes on a loaded machine) + two clones.
pytestmark = pytest.mark.timeout(2400)

NAME = "clone"
CLONE_TIMEOUT = 900.0


def sql_on(k: Kubectl, index: int, sql: str, user: tuple[str, str] = READONLY) -> str:
    """``sql`` on instance ``index`` itself (the mysql client of its mysqld container, over TCP)."""
    password = user_password(k, NAME, user[1])
    return k(
        "exec",
        f"moco-{NAME}-{index}",
        "-c",
        "mysqld",
        "--",
        "env",
        f"MYSQL_PWD={password}",
        "mysql",
        "--no-defaults",
        "--connect-timeout=10",
        "-h",
        "127.0.0.1",
        "-u",
        user[0],
        "-N",
        "-B",
        "-e",
        sql,
        timeout=60,
    ).strip()


def all_synced(k: Kubectl, replicas: int) -> bool:
    st = mc.status(k, NAME)
    return mc.is_healthy(k, NAME) and st.get("syncedReplicas") == replicas


def clone_events(k: Kubectl, index: int | None = None) -> list[str]:
    """Messages of the cluster's Cloned Events (of one instance when ``index`` is given)."""
    items = k.get("events", f"--field-selector=involvedObject.name={NAME}").get("items") or []
    out = [str(e.get("message", "")) for e in items if e.get("reason") == "Cloned"]
    return out if index is None else [m for m in out if f"instance {index} " in m]


def instance_roles(k: Kubectl, replicas: int) -> list[str]:
    """The role labels of instances 0..replicas-1, in order ("" when unlabelled or absent)."""
    roles = mc.roles(k, NAME)
    return [roles.get(f"moco-{NAME}-{i}", "") for i in range(replicas)]


def roles_settled(k: Kubectl, replicas: int) -> list[str] | None:
    got = instance_roles(k, replicas)
    return got if sorted(got) == ["primary"] + ["replica"] * (replicas - 1) else None


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "clone") as k:
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=3))
        mc.wait_healthy(k, NAME)
        primary = mc.primary_index(k, NAME)
        sql_on(
            k,
            primary,
            "CREATE DATABASE IF NOT EXISTS e2e; CREATE TABLE e2e.seed (v VARCHAR(32) PRIMARY KEY);"
            " INSERT INTO e2e.seed VALUES ('before-clone')",
            WRITABLE,
        )
        yield k


def test_scale_out_clones_the_new_replicas(
    k: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    k("patch", "mysqlcluster", NAME, "--type=merge", "-p", '{"spec":{"replicas":5}}')
    t0 = time.monotonic()
    mc.wait(k, NAME, "5 instances synced and Healthy", lambda: all_synced(k, 5), timeout=CLONE_TIMEOUT)
    record_testsuite_property("clone_scale_out_s", round(time.monotonic() - t0, 1))
    for i in (3, 4):
        assert sql_on(k, i, "SELECT v FROM e2e.seed") == "before-clone"
        assert sql_on(k, i, "SELECT STATE FROM performance_schema.clone_status") == "Completed"
    assert clone_events(k, 3), clone_events(k)
    assert clone_events(k, 4), clone_events(k)
    mc.wait(k, NAME, "a primary and 4 replicas labelled", lambda: roles_settled(k, 5), timeout=60)


def test_wiped_replica_is_cloned_again(
    k: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    replica = next(i for i in range(5) if i != mc.primary_index(k, NAME))
    pod, pvc = f"moco-{NAME}-{replica}", f"mysql-data-moco-{NAME}-{replica}"
    old_pvc = k.get("pvc", pvc)["metadata"]["uid"]
    old_pod = k.get("pod", pod)["metadata"]["uid"]
    clones_before = len(clone_events(k, replica))
    k("delete", "pvc", pvc, "--wait=false")
    k("delete", "pod", pod, "--wait=true", timeout=180)
    t0 = time.monotonic()
    last_kick = [t0]

    def recloned() -> bool:
        try:
            claim = k.get("pvc", pvc)
        except KubectlError:
            claim = None
        # A Pod re-created while its old claim was still terminating waits forever: delete it again.
        if (claim is None or claim["metadata"]["uid"] == old_pvc) and time.monotonic() - last_kick[0] > 60:
            k("delete", "pod", pod, "--wait=false", check=False)
            last_kick[0] = time.monotonic()
        if claim is None or claim["metadata"]["uid"] == old_pvc:
            return False
        if k.get("pod", pod)["metadata"]["uid"] == old_pod:
            return False
        return len(clone_events(k, replica)) > clones_before and all_synced(k, 5)

    mc.wait(k, NAME, f"{pod} re-created empty, cloned, Healthy", recloned, timeout=CLONE_TIMEOUT)
    record_testsuite_property("clone_wiped_s", round(time.monotonic() - t0, 1))
    assert sql_on(k, replica, "SELECT v FROM e2e.seed") == "before-clone"
    assert sql_on(k, replica, "SELECT STATE FROM performance_schema.clone_status") == "Completed"
    mc.wait(k, NAME, "a primary and 4 replicas labelled", lambda: roles_settled(k, 5), timeout=60)
