"""A single instance: ``replicas: 1`` becomes Healthy, takes writes through its primary Service,
and keeps its data when its Pod is deleted (the StatefulSet re-creates the Pod on the same PVC;
moco makes the restarted instance the writable primary again).
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

NAME = "single"
CLIENT = "client"


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "single") as k:
        k.apply(json.dumps(client_pod_manifest(CLIENT)))
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=1))
        mc.wait_healthy(k, NAME)
        k.wait_ready(f"pod/{CLIENT}", timeout=180)
        yield k


def _sql(k: Kubectl, sql: str, user: tuple[str, str] = WRITABLE) -> str:
    return sql_in_pod(k, CLIENT, f"moco-{NAME}-primary", user, NAME, sql)


def test_single_instance_is_the_writable_primary(k: Kubectl) -> None:
    assert mc.roles(k, NAME) == {f"moco-{NAME}-0": "primary"}
    assert mc.primary_index(k, NAME) == 0
    _sql(k, "CREATE DATABASE IF NOT EXISTS e2e; CREATE TABLE e2e.kept (v VARCHAR(32) PRIMARY KEY)")
    _sql(k, "INSERT INTO e2e.kept VALUES ('before-delete')")
    assert _sql(k, "SELECT @@read_only, @@super_read_only") == "0\t0"


def test_data_survives_a_pod_delete(k: Kubectl) -> None:
    pod = f"moco-{NAME}-0"
    uid = k.get("pod", pod)["metadata"]["uid"]
    k("delete", "pod", pod, "--wait=false")

    def recreated_and_healthy() -> bool:
        p = k.get("pod", pod)
        return p["metadata"]["uid"] != uid and mc.is_healthy(k, NAME)

    t0 = time.monotonic()
    mc.wait(k, NAME, f"{pod} re-created and the cluster Healthy", recreated_and_healthy, timeout=420)
    took = time.monotonic() - t0

    def readable() -> str:
        try:
            return _sql(k, "SELECT v FROM e2e.kept", READONLY)
        except KubectlError:  # the Service may lag the Pod's readiness for a moment
            return ""

    seen = mc.wait(k, NAME, "the row written before the delete", readable, timeout=60)
    assert seen == "before-delete", f"after the Pod was re-created ({took:.0f}s) the table holds {seen!r}"
    _sql(k, "INSERT INTO e2e.kept VALUES ('after-delete')")
    assert _sql(k, "SELECT COUNT(*) FROM e2e.kept") == "2"
