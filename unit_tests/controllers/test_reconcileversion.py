"""Reconciler versions (:mod:`moco.controllers.reconcileversion`): the rule by a table, named
after its rules, and what version 1 keeps of a live cluster."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from moco import constants
from moco.api import MySQLCluster
from moco.controllers import reconcileversion as rv
from moco.controllers import statefulset
from moco.controllers.containers import Images
from moco.controllers.status import RECONCILE_VERSION, set_reconcile_info
from unit_tests.controllers.render_helpers import load_example

OLD_CONTROLLER_IMAGE = "localhost/moco/moco:src-0ld0ld0ld0ld"
IMAGES = Images(agent="localhost/moco/moco-agent:1.0.0")


@pytest.mark.parametrize(
    ("recorded_generation", "recorded_version", "generation", "deleting", "want"),
    [
        # rule 1: nothing declared changed: the recorded version
        (3, 1, 3, False, 1),
        (3, 2, 3, False, 2),
        # rule 1: a cluster being deleted keeps its version whatever its generation
        (3, 1, 4, True, 1),
        # rule 2: the user changed the spec: the latest
        (3, 1, 4, False, rv.LATEST),
        # rule 2: never reconciled, or never recorded (0)
        (None, 0, 1, False, rv.LATEST),
        (3, 0, 3, False, rv.LATEST),
        # rule 2: a version this controller does not know (a newer controller's, after a downgrade)
        (3, 7, 3, False, rv.LATEST),
        (3, 7, 3, True, rv.LATEST),
    ],
)
def test_decide(
    recorded_generation: int | None, recorded_version: int, generation: int, deleting: bool, want: int
) -> None:
    assert rv.decide(recorded_generation, recorded_version, generation, deleting=deleting) == want


def test_latest_is_what_status_records_for_a_new_cluster() -> None:
    assert RECONCILE_VERSION == rv.LATEST
    status: dict[str, Any] = {}
    assert set_reconcile_info(status, 1)
    assert status["reconcileInfo"] == {"generation": 1, "reconcileVersion": rv.LATEST}


def test_status_keeps_version_1_until_the_generation_changes() -> None:
    status: dict[str, Any] = {"reconcileInfo": {"generation": 5, "reconcileVersion": 1}}
    assert not set_reconcile_info(status, 5), "an unchanged generation rewrote reconcileInfo"
    assert status["reconcileInfo"]["reconcileVersion"] == 1
    assert set_reconcile_info(status, 6)
    assert status["reconcileInfo"] == {"generation": 6, "reconcileVersion": rv.LATEST}


def _reconciled_by_old_controller(generation: int, version: int) -> tuple[MySQLCluster, dict[str, Any]]:
    """A cluster and the StatefulSet an earlier moco left: its agent on the controller's image."""
    cluster, _ = load_example("anti-affinity.yaml")
    doc = cluster.model_dump(by_alias=True, exclude_none=True)
    doc["metadata"]["generation"] = 5
    doc["status"] = {"reconcileInfo": {"generation": 5, "reconcileVersion": version}}
    # rendered at the recorded version, when the generation was 5
    old = statefulset.statefulset(
        MySQLCluster.parse(doc), "moco-test-mycnf", "moco-test-slow", Images(agent=OLD_CONTROLLER_IMAGE)
    )
    doc["metadata"]["generation"] = generation
    return MySQLCluster.parse(doc), old


def test_version_1_keeps_the_agent_image_the_cluster_runs() -> None:
    cluster, live = _reconciled_by_old_controller(generation=5, version=1)
    assert rv.for_cluster(cluster) == 1
    desired = statefulset.statefulset(
        cluster, "moco-test-mycnf", "moco-test-slow", IMAGES, live=copy.deepcopy(live)
    )
    assert desired["spec"]["template"] == live["spec"]["template"]
    assert statefulset.decide_partition(live, desired, force=False) == 0, "an operator upgrade would roll"


def test_a_spec_change_moves_to_the_latest_version_and_the_agent_image() -> None:
    cluster, live = _reconciled_by_old_controller(generation=6, version=1)
    assert rv.for_cluster(cluster) == rv.LATEST
    desired = statefulset.statefulset(cluster, "moco-test-mycnf", "moco-test-slow", IMAGES, live=live)
    spec = desired["spec"]["template"]["spec"]
    images = {c["name"]: c["image"] for c in [*spec["containers"], *spec["initContainers"]]}
    assert images["agent"] == images["copy-moco-init"] == IMAGES.agent
    assert statefulset.decide_partition(live, desired, force=False) == desired["spec"]["replicas"]


def test_version_2_renders_the_configured_agent_image() -> None:
    cluster, live = _reconciled_by_old_controller(generation=5, version=2)
    desired = statefulset.statefulset(cluster, "moco-test-mycnf", "moco-test-slow", IMAGES, live=live)
    assert rv.live_agent_image(desired) == IMAGES.agent


def test_version_1_without_a_statefulset_renders_the_configured_image() -> None:
    assert rv.agent_images(1, IMAGES, None) == IMAGES
    assert rv.agent_images(1, IMAGES, {"spec": {"template": {"spec": {"containers": []}}}}) == IMAGES


def _mounts_moco_tls(sts: dict[str, Any]) -> dict[str, bool]:
    spec = sts["spec"]["template"]["spec"]
    volume = any(v["name"] == constants.MYSQL_TLS_VOLUME for v in spec["volumes"])
    mounted = {
        c["name"]: any(m["name"] == constants.MYSQL_TLS_VOLUME for m in c.get("volumeMounts") or [])
        for c in spec["containers"]
    }
    return {"volume": volume, "mysqld": mounted["mysqld"], "agent": mounted["agent"]}


@pytest.mark.parametrize("version", [1, 2])
def test_versions_before_3_keep_mysqld_on_its_own_certificate(version: int) -> None:
    """An operator upgrade does not roll a cluster to mount moco's certificate."""
    cluster, live = _reconciled_by_old_controller(generation=5, version=version)
    assert not rv.serves_moco_tls(rv.for_cluster(cluster))
    desired = statefulset.statefulset(cluster, "moco-test-mycnf", "moco-test-slow", IMAGES, live=live)
    assert _mounts_moco_tls(desired) == {"volume": False, "mysqld": False, "agent": False}


def test_version_3_mounts_moco_certificate_in_mysqld_and_the_agent() -> None:
    cluster, live = _reconciled_by_old_controller(generation=6, version=2)  # the user edited it
    assert rv.for_cluster(cluster) == rv.LATEST
    assert rv.serves_moco_tls(3)
    desired = statefulset.statefulset(cluster, "moco-test-mycnf", "moco-test-slow", IMAGES, live=live)
    assert _mounts_moco_tls(desired) == {"volume": True, "mysqld": True, "agent": True}
    volume = next(
        v for v in desired["spec"]["template"]["spec"]["volumes"] if v["name"] == constants.MYSQL_TLS_VOLUME
    )
    # the Secret by name, whole (no subPath: the kubelet updates it in place), private to the Pod
    assert volume["secret"] == {"secretName": "moco-test-mysql-tls", "defaultMode": 0o440}
    for c in desired["spec"]["template"]["spec"]["containers"]:
        for m in c.get("volumeMounts") or []:
            if m["name"] == constants.MYSQL_TLS_VOLUME:
                assert m == {"name": "mysql-tls", "mountPath": "/mysql-tls", "readOnly": True}


def _startup_probe(sts: dict[str, Any]) -> dict[str, Any]:
    spec = sts["spec"]["template"]["spec"]
    mysqld = next(c for c in spec["containers"] if c["name"] == constants.MYSQLD_CONTAINER)
    return dict(mysqld["startupProbe"])


@pytest.mark.parametrize("version", [1, 2, 3])
def test_versions_before_4_keep_the_10_s_startup_probe(version: int) -> None:
    """An operator upgrade does not roll a cluster for the faster startup probe."""
    cluster, live = _reconciled_by_old_controller(generation=5, version=version)
    assert rv.for_cluster(cluster) == version
    desired = statefulset.statefulset(cluster, "moco-test-mycnf", "moco-test-slow", IMAGES, live=live)
    probe = _startup_probe(desired)
    assert (probe["periodSeconds"], probe["failureThreshold"]) == (10, 360)
    assert _startup_probe(live) == probe


def test_version_4_asks_every_second_within_the_same_startup_wait() -> None:
    cluster, live = _reconciled_by_old_controller(generation=6, version=3)  # the user edited it
    assert rv.for_cluster(cluster) == 4
    desired = statefulset.statefulset(cluster, "moco-test-mycnf", "moco-test-slow", IMAGES, live=live)
    probe = _startup_probe(desired)
    # spec.startupWaitSeconds (default 3600) still bounds the wait: 3600 tries of 1 s
    assert (probe["periodSeconds"], probe["failureThreshold"]) == (1, 3600)
    assert probe["httpGet"]["path"] == "/healthz"
