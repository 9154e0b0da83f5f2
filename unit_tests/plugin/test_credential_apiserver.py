"""``kubectl moco credential rotate`` / ``discard`` against a real kube-apiserver: the
annotations they set, their refusals, messages and exit codes (the controller is not running:
the tests write the rotation status it would)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from moco import constants
from moco.kube.client import Client
from moco.kube.resource import SECRETS
from moco.plugin.session import MYSQLCLUSTERS
from moco.testing.envtest import Envtest
from unit_tests.plugin.test_commands_apiserver import arun, make_cluster

pytestmark = [pytest.mark.apiserver, pytest.mark.timeout(180)]


def anns_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


async def set_rotation(kube: Client, ns: str, phase: str, rotation_id: str) -> None:
    obj = await kube.get(MYSQLCLUSTERS, "db", ns)
    obj["status"]["systemUserRotation"] = {"phase": phase, "rotationID": rotation_id}
    await kube.update_status(MYSQLCLUSTERS, obj)


async def test_rotate_then_discard(apiserver: Envtest, kube: Client, namespace: str) -> None:
    await make_cluster(kube, namespace)
    res = await arun(apiserver, namespace, "credential", "rotate", "db")
    assert res.exit_code == 0, res.output
    rid = anns_of(await kube.get(MYSQLCLUSTERS, "db", namespace))[constants.ANN_PASSWORD_ROTATE]
    assert str(uuid.UUID(rid)) == rid, "a new rotation ID"
    assert f"password rotation {rid} of MySQLCluster {namespace}/db requested" in res.output
    assert "kubectl moco credential discard db" in res.output

    again = await arun(apiserver, namespace, "credential", "rotate", "db")
    assert again.exit_code == 0
    assert "already requested" in again.output
    assert anns_of(await kube.get(MYSQLCLUSTERS, "db", namespace))[constants.ANN_PASSWORD_ROTATE] == rid

    early = await arun(apiserver, namespace, "credential", "discard", "db")
    assert early.exit_code == 1
    assert f"no rotation of MySQLCluster {namespace}/db is in progress" in early.stderr

    await set_rotation(kube, namespace, "Rotating", rid)
    rotating = await arun(apiserver, namespace, "credential", "discard", "db")
    assert rotating.exit_code == 1
    assert "not Rotated yet" in rotating.stderr

    await set_rotation(kube, namespace, "Rotated", rid)
    second = await arun(apiserver, namespace, "credential", "rotate", "db")
    assert second.exit_code == 1
    assert f"rotation {rid} of MySQLCluster {namespace}/db is Rotated" in second.stderr
    assert "kubectl moco credential discard db" in second.stderr

    res = await arun(apiserver, namespace, "credential", "discard", "db")
    assert res.exit_code == 0, res.output
    assert anns_of(await kube.get(MYSQLCLUSTERS, "db", namespace))[constants.ANN_PASSWORD_DISCARD] == rid
    again = await arun(apiserver, namespace, "credential", "discard", "db")
    assert again.exit_code == 0
    assert "already requested" in again.output


async def test_refused_when_not_healthy_or_stopped(apiserver: Envtest, kube: Client, namespace: str) -> None:
    obj = await make_cluster(kube, namespace)
    obj["status"]["conditions"][0]["status"] = "False"
    await kube.update_status(MYSQLCLUSTERS, obj)
    res = await arun(apiserver, namespace, "credential", "rotate", "db")
    assert res.exit_code == 1
    assert f"MySQLCluster {namespace}/db is not Healthy" in res.stderr
    assert constants.ANN_PASSWORD_ROTATE not in anns_of(await kube.get(MYSQLCLUSTERS, "db", namespace))

    obj = await kube.get(MYSQLCLUSTERS, "db", namespace)
    obj["status"]["conditions"][0]["status"] = "True"
    await kube.update_status(MYSQLCLUSTERS, obj)
    patch = {"metadata": {"annotations": {constants.ANN_CLUSTERING_STOPPED: "true"}}}
    await kube.patch(MYSQLCLUSTERS, "db", patch, namespace)
    res = await arun(apiserver, namespace, "credential", "rotate", "db")
    assert res.exit_code == 1
    assert "kubectl moco start clustering db" in res.stderr

    missing = await arun(apiserver, namespace, "credential", "rotate", "nope")
    assert missing.exit_code == 1
    assert "nope" in missing.stderr


async def test_show_keeps_working_without_a_subcommand(
    apiserver: Envtest, kube: Client, namespace: str
) -> None:
    await make_cluster(kube, namespace)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "moco-db", "namespace": namespace},
        "stringData": {"ADMIN_PASSWORD": "admin-pw", "READONLY_PASSWORD": "ro-pw"},
    }
    await kube.create(SECRETS, secret)
    old_style = await arun(apiserver, namespace, "credential", "-u", "moco-admin", "db")
    assert old_style.exit_code == 0, old_style.output
    assert old_style.output == "admin-pw\n"
    show = await arun(apiserver, namespace, "credential", "show", "--format", "mycnf", "db")
    assert show.exit_code == 0, show.output
    assert 'password="ro-pw"' in show.output
