"""Security contexts at the restricted level: the rules of moco.controllers.podsecurity, and every
rendered mysqld Pod of MOCO's examples (the apiserver's own admission check is in
test_podsecurity_apiserver.py)."""

from __future__ import annotations

from typing import Any

import pytest

from moco.api import MySQLCluster
from moco.cli.controller import parser
from moco.controllers import statefulset
from moco.controllers.podsecurity import (
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
    SecurityDefaults,
    container_context,
    pod_context,
)
from unit_tests.controllers.render_helpers import IMAGES, example_names, load_example

ON, OFF = SecurityDefaults(), SecurityDefaults(default_ids=False)
IDS = {"runAsUser": 10000, "runAsGroup": 10000}


@pytest.mark.parametrize(
    ("given", "security", "read_only", "want"),
    [
        pytest.param(
            None, ON, True, {**RESTRICTED_CONTAINER, **IDS, "readOnlyRootFilesystem": True}, id="rule2-3-4"
        ),
        pytest.param(
            None, OFF, True, {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": True}, id="rule3-off"
        ),
        pytest.param(None, ON, False, {**RESTRICTED_CONTAINER, **IDS}, id="rule4-writable-root"),
        pytest.param(
            {"runAsUser": 999, "readOnlyRootFilesystem": False, "capabilities": {"add": ["NET_ADMIN"]}},
            ON,
            True,
            {
                **RESTRICTED_CONTAINER,
                "runAsUser": 999,
                "runAsGroup": 10000,
                "readOnlyRootFilesystem": False,
                "capabilities": {"add": ["NET_ADMIN"]},
            },
            id="rule1-user-keys-kept",
        ),
    ],
)
def test_container_context(
    given: dict[str, Any] | None, security: SecurityDefaults, read_only: bool, want: dict[str, Any]
) -> None:
    assert container_context(given, security, read_only_root=read_only) == want


def test_container_context_never_changes_its_input() -> None:
    given = {"capabilities": {"drop": ["NET_RAW"]}}
    container_context(given, ON)["capabilities"]["drop"].append("X")
    assert given == {"capabilities": {"drop": ["NET_RAW"]}}


@pytest.mark.parametrize(
    ("given", "security", "want"),
    [
        (None, ON, {**RESTRICTED_POD, "fsGroup": 10000, "fsGroupChangePolicy": "OnRootMismatch"}),
        (None, OFF, RESTRICTED_POD),
        (
            {"fsGroup": 2000, "runAsNonRoot": False},
            ON,
            {
                **RESTRICTED_POD,
                "fsGroup": 2000,
                "runAsNonRoot": False,
                "fsGroupChangePolicy": "OnRootMismatch",
            },
        ),
    ],
    ids=["rule2-3", "rule3-off", "rule1-user-keys-kept"],
)
def test_pod_context(given: dict[str, Any] | None, security: SecurityDefaults, want: dict[str, Any]) -> None:
    assert pod_context(given, security) == want


def _template(name: str, security: SecurityDefaults) -> dict[str, Any]:
    cluster, _ = load_example(name)
    spec: dict[str, Any] = statefulset.pod_template(cluster, "moco-x.1", "moco-slow-x", IMAGES, security)[
        "spec"
    ]
    return spec


@pytest.mark.parametrize("name", example_names())
def test_every_moco_container_of_every_example_is_restricted(name: str) -> None:
    spec = _template(name, ON)
    for c in [*spec["containers"], *spec["initContainers"]]:
        sc = c["securityContext"]
        for key, value in RESTRICTED_CONTAINER.items():
            assert sc[key] == value, f"{name}: {c['name']}.securityContext.{key}"
        assert sc["readOnlyRootFilesystem"] is True
    for key, value in RESTRICTED_POD.items():
        assert spec["securityContext"][key] == value


def test_disable_default_security_context_drops_only_the_ids() -> None:
    on, off = _template("guaranteed.yaml", ON), _template("guaranteed.yaml", OFF)
    assert "fsGroup" not in off["securityContext"]
    for c in [*off["containers"], *off["initContainers"]]:
        assert "runAsUser" not in c["securityContext"]
        assert "runAsGroup" not in c["securityContext"]
        assert c["securityContext"]["runAsNonRoot"] is True
    assert on != off


def test_the_flag_is_mocos_and_off_by_default() -> None:
    assert parser().parse_args([]).disable_default_security_context is False
    assert parser().parse_args(["--disable-default-security-context"]).disable_default_security_context


def test_overwrite_containers_keeps_the_users_context_and_fills_the_rest() -> None:
    cluster, _ = load_example("guaranteed.yaml")
    doc = cluster.to_json()
    doc["spec"]["podTemplate"]["overwriteContainers"] = [
        {"name": "agent", "securityContext": {"readOnlyRootFilesystem": False}}
    ]
    spec = statefulset.pod_template(MySQLCluster.parse(doc), "m", "s", IMAGES)["spec"]
    agent = next(c for c in spec["containers"] if c["name"] == "agent")
    assert agent["securityContext"]["readOnlyRootFilesystem"] is False
    assert agent["securityContext"]["allowPrivilegeEscalation"] is False
