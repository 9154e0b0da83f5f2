"""Rendering of MOCO's examples, pinned by golden files, and the rules behind the rendering."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from moco import constants
from moco.api import MySQLCluster
from moco.constants import PASSWORD_KEYS
from moco.controllers import configmaps, containers, services, statefulset
from moco.controllers import secrets as sec
from moco.controllers.common import find_container, parse_quantity
from moco.controllers.errors import InvalidSpec
from unit_tests.controllers.render_helpers import (
    IMAGES,
    UID,
    check_golden,
    example_names,
    load_example,
    render_all,
)


@pytest.mark.parametrize("name", example_names())
def test_examples_match_golden(name: str) -> None:
    cluster, conf = load_example(name)
    objs = render_all(cluster, conf)
    check_golden(name, objs)
    for o in objs:
        meta = o["metadata"]
        if meta["namespace"] == cluster.namespace:
            assert meta["ownerReferences"][0]["uid"] == UID
            assert meta["ownerReferences"][0]["controller"] is True
        else:
            assert "ownerReferences" not in meta
        assert meta["labels"][constants.LABEL_APP_INSTANCE] == cluster.name


def _cluster(**spec: Any) -> MySQLCluster:
    cluster, _ = load_example("guaranteed.yaml")
    data = cluster.to_json()
    data["spec"].update(spec)
    return MySQLCluster.parse(data)


def _sts(cluster: MySQLCluster) -> dict[str, Any]:
    return statefulset.statefulset(cluster, "moco-test.abc", "moco-slow-log-agent-config-test.x", IMAGES)


def test_quantities() -> None:
    assert parse_quantity("512Mi") == 512 * 2**20
    assert parse_quantity("1G") == 10**9
    assert parse_quantity("1.5Gi") == 3 * 2**29
    assert parse_quantity(1024) == 1024
    assert parse_quantity(None) is None
    with pytest.raises(ValueError):
        parse_quantity("lots")


def test_mycnf_changes_name_with_content_and_memory() -> None:
    c = _cluster()
    a = configmaps.mycnf_configmap(c, {"long_query_time": "5"})
    b = configmaps.mycnf_configmap(c, {"long_query_time": "6"})
    assert a["metadata"]["name"] != b["metadata"]["name"]
    assert a["metadata"]["name"].startswith("moco-test.")
    assert "long_query_time = 5" in a["data"]["my.cnf"]
    # guaranteed.yaml sets the memory (limits only: the limit counts): the buffer pool is 70 % of it
    mysqld = find_container(c.spec.pod_template.spec, "mysqld")
    assert mysqld is not None
    mem = parse_quantity(mysqld["resources"]["limits"]["memory"])
    assert mem is not None
    assert f"innodb_buffer_pool_size = {(mem // 100 * 70) // 2**20 * 2**20}" in a["data"]["my.cnf"]


def test_prunable_keeps_history_and_ignores_others() -> None:
    def cm(name: str, ts: str, uid: str = UID) -> dict[str, Any]:
        return {"metadata": {"name": name, "creationTimestamp": ts, "ownerReferences": [{"uid": uid}]}}

    existing = [
        cm("moco-test.1", "2026-01-01T00:00:01Z"),
        cm("moco-test.2", "2026-01-01T00:00:02Z"),
        cm("moco-test.3", "2026-01-01T00:00:03Z"),
        cm("moco-test.4", "2026-01-01T00:00:04Z"),
        cm("moco-test.x", "2026-01-01T00:00:00Z", uid="other"),
        cm("mycnf", "2026-01-01T00:00:00Z"),
    ]
    assert configmaps.prunable(existing, "moco-test.", "moco-test.4", UID, 2) == [
        "moco-test.1",
        "moco-test.2",
    ]
    assert configmaps.prunable(existing, "moco-test.", "moco-test.4", UID, 1) == [
        "moco-test.1",
        "moco-test.2",
        "moco-test.3",
    ]
    assert configmaps.prunable(existing, "moco-test.", None, UID, 5) == [
        "moco-test.1",
        "moco-test.2",
        "moco-test.3",
        "moco-test.4",
    ]


def test_service_template_honoured_but_selector_and_ports_forced() -> None:
    c = _cluster(
        primaryServiceTemplate={
            "metadata": {"labels": {"team": "db"}, "annotations": {"a": "b"}},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"evil": "x"},
                "ports": [{"name": "mysql", "port": 1, "protocol": "UDP"}, {"name": "extra", "port": 9}],
            },
        }
    )
    primary = services.services(c)[1]
    assert primary["spec"]["type"] == "LoadBalancer"
    # no selector at all: moco writes its EndpointSlice (moco.controllers.primaryslice)
    assert "selector" not in primary["spec"]
    replica = services.services(c)[2]
    assert replica["spec"]["selector"] == {
        constants.LABEL_APP_NAME: "mysql",
        constants.LABEL_APP_INSTANCE: "test",
        constants.LABEL_APP_CREATED_BY: "moco",
        constants.LABEL_ROLE: "replica",
    }
    ports = {p["name"]: p for p in primary["spec"]["ports"]}
    assert ports["mysql"] == {"name": "mysql", "port": 3306, "protocol": "TCP", "targetPort": "mysql"}
    assert ports["mysqlx"]["port"] == 33060
    assert "extra" in ports
    assert "mysql-admin" not in ports
    assert primary["metadata"]["labels"]["team"] == "db"
    assert primary["metadata"]["annotations"] == {"a": "b"}
    headless = services.services(c)[0]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert {p["name"] for p in headless["spec"]["ports"]} == {"mysql", "mysqlx", "mysql-admin"}


@pytest.mark.parametrize(
    ("replicas", "offline", "expected"), [(1, False, None), (3, False, 1), (5, False, 2), (5, True, None)]
)
def test_pdb(replicas: int, offline: bool, expected: int | None) -> None:
    pdb = services.pdb(_cluster(replicas=replicas, offline=offline))
    if expected is None:
        assert pdb is None
    else:
        assert pdb is not None
        assert pdb["spec"]["maxUnavailable"] == expected


def test_offline_scales_to_zero_and_keeps_claims() -> None:
    online, offline = _sts(_cluster(replicas=3)), _sts(_cluster(replicas=3, offline=True))
    assert online["spec"]["replicas"] == 3
    assert offline["spec"]["replicas"] == 0
    assert online["spec"]["volumeClaimTemplates"] == offline["spec"]["volumeClaimTemplates"]
    assert online["spec"]["template"] == offline["spec"]["template"]


def test_user_probe_tuning_kept_but_handler_forced() -> None:
    cluster, _ = load_example("custom-probe.yaml")
    mysqld = _sts(cluster)["spec"]["template"]["spec"]["containers"][0]
    assert mysqld["livenessProbe"]["failureThreshold"] == 3
    assert mysqld["livenessProbe"]["terminationGracePeriodSeconds"] == 200
    assert mysqld["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health", "scheme": "HTTP"}
    # not tuned by the user: 1 s tries within spec.startupWaitSeconds (reconcile version 4)
    assert (mysqld["startupProbe"]["periodSeconds"], mysqld["startupProbe"]["failureThreshold"]) == (1, 3600)


def test_containers_and_overwrites() -> None:
    c = _cluster(
        collectors=["engine_innodb_status"],
        disableSlowQueryLogContainer=True,
        podTemplate={
            "spec": {
                "containers": [
                    {"name": "mysqld", "image": "mysql:9"},
                    {"name": "sidecar", "image": "busybox"},
                    {"name": "slow-log", "image": "mine"},
                ]
            },
            "overwriteContainers": [{"name": "agent", "resources": {"limits": {"cpu": "1"}}}],
        },
    )
    spec = _sts(c)["spec"]["template"]["spec"]
    names = [x["name"] for x in spec["containers"]]
    assert names == ["mysqld", "agent", "mysqld-exporter", "sidecar", "slow-log"]
    agent = spec["containers"][1]
    assert agent["resources"] == {"limits": {"cpu": "1"}}
    assert agent["envFrom"] == [{"secretRef": {"name": "moco-test"}}]
    assert spec["containers"][2]["args"][1] == "--collect.engine_innodb_status"
    inits = spec["initContainers"]
    assert [x["name"] for x in inits] == ["copy-moco-init", "moco-init"]
    assert inits[1]["image"] == "mysql:9"
    assert inits[1]["command"] == ["sh", containers.INIT_SCRIPT_PATH, str(c.spec.server_id_base)]
    assert spec["securityContext"]["fsGroup"] == 10000
    assert spec["affinity"]["podAntiAffinity"]
    # moco's containers run as MOCO's uid; the user's own are left as written
    assert all(x["securityContext"]["runAsUser"] == 10000 for x in spec["containers"][:3])
    assert all("securityContext" not in x for x in spec["containers"][3:])


def test_missing_mysqld_is_invalid() -> None:
    c = _cluster(podTemplate={"spec": {"containers": [{"name": "other", "image": "x"}]}})
    with pytest.raises(InvalidSpec):
        _sts(c)


def test_partition_decisions() -> None:
    c = _cluster(replicas=3)
    desired = _sts(c)
    assert statefulset.decide_partition(None, desired, force=False) == 0
    live = copy.deepcopy(desired)
    live["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 2
    assert statefulset.decide_partition(live, desired, force=False) == 2  # unchanged template: kept
    changed = statefulset.statefulset(c, "moco-test.def", "moco-slow-log-agent-config-test.x", IMAGES)
    assert statefulset.decide_partition(live, changed, force=False) == 3  # new template: from the top
    assert statefulset.decide_partition(live, changed, force=True) == 0


def test_recreate_when_claims_change() -> None:
    c = _cluster()
    desired = _sts(c)
    assert not statefulset.needs_recreate(None, desired)
    assert not statefulset.needs_recreate(desired, desired)
    data = c.to_json()
    data["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "5Gi"
    bigger = _sts(MySQLCluster.parse(data))
    assert statefulset.needs_recreate(desired, bigger)
    # a StatefulSet made by MOCO (no hash annotation) is compared field by field
    legacy = copy.deepcopy(desired)
    del legacy["metadata"]["annotations"][statefulset.ANN_CLAIMS_HASH]
    assert not statefulset.needs_recreate(legacy, desired)
    assert statefulset.needs_recreate(legacy, bigger)


def test_passwords_generated_completed_and_hidden() -> None:
    pw = sec.Passwords.generate(lambda n: "ab" * n)
    assert set(pw.values) == {*PASSWORD_KEYS.values(), sec.AGENT_TOKEN_KEY}
    assert "abab" not in repr(pw)
    c = _cluster()
    secret = sec.controller_secret(c, "moco-system", pw)
    again = sec.Passwords.from_secret(secret)
    assert again.values == pw.values
    partial = sec.Passwords({"ADMIN_PASSWORD": "keep"})
    full = partial.completed(lambda n: "cd" * n)
    assert full.values["ADMIN_PASSWORD"] == "keep"
    assert not full.missing()
    mycnf = sec.mycnf_secret(c, pw)
    assert set(mycnf["data"]) == {constants.mycnf_key(u) for u in sec.MYCNF_USERS}
