"""The plugin's decisions as tables: refusals, annotation changes, the exec command line,
credentials."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from moco import constants
from moco.plugin import actions
from moco.plugin.actions import ClusterView, Switch
from moco.plugin.errors import NotFound, PluginError, Refused
from moco.plugin.target import Target

STOPPED_CLUSTERING = {constants.ANN_CLUSTERING_STOPPED: "true"}
STOPPED_RECONCILIATION = {constants.ANN_RECONCILIATION_STOPPED: "true"}


def view(**kw: Any) -> ClusterView:
    base: dict[str, Any] = {"name": "db", "namespace": "ns", "replicas": 3}
    return ClusterView(**{**base, **kw})


def test_view_reads_the_object_with_crd_defaults() -> None:
    v = ClusterView.from_obj({"metadata": {"name": "db", "namespace": "ns"}, "spec": {}})
    assert (v.replicas, v.offline, v.current_primary_index, dict(v.annotations)) == (1, False, 0, {})
    v = ClusterView.from_obj(
        {
            "metadata": {"name": "db", "namespace": "ns", "annotations": STOPPED_CLUSTERING},
            "spec": {"replicas": 5, "offline": True},
            "status": {"currentPrimaryIndex": 2},
        }
    )
    assert (v.replicas, v.offline, v.current_primary_index, v.ref) == (5, True, 2, "ns/db")
    assert v.stopped(Switch.CLUSTERING)
    assert not v.stopped(Switch.RECONCILIATION)


SWITCHOVER = [
    # (case, view, refusal fragment or None)
    ("healthy three", view(), None),
    ("primary elsewhere", view(current_primary_index=2), None),
    ("reconciliation stopped does not matter", view(annotations=STOPPED_RECONCILIATION), None),
    ("single instance", view(replicas=1), "single-instance"),
    ("offline", view(offline=True), "offline"),
    ("offline single", view(replicas=1, offline=True), "offline"),
    ("clustering stopped", view(annotations=STOPPED_CLUSTERING), "start clustering db"),
    (
        "stopped by another value is running",
        view(annotations={constants.ANN_CLUSTERING_STOPPED: "false"}),
        None,
    ),
    ("primary index past the end", view(current_primary_index=3), "names no instance"),
]


@pytest.mark.parametrize(("case", "v", "refusal"), SWITCHOVER, ids=[t[0] for t in SWITCHOVER])
def test_switchover_refusal(case: str, v: ClusterView, refusal: str | None) -> None:
    got = actions.switchover_refusal(v)
    if refusal is None:
        assert got is None, case
    else:
        assert got is not None, case
        assert refusal in got, case
        assert "ns/db" in got, case


def test_demote_patch_is_idempotent() -> None:
    assert actions.demote_patch({"metadata": {}}) == {
        "metadata": {"annotations": {constants.ANN_DEMOTE: "true"}}
    }
    assert actions.demote_patch({"metadata": {"annotations": {constants.ANN_DEMOTE: "true"}}}) is None


SWITCHES = [
    # (case, annotations, switch, stop, patch value or "unchanged")
    ("stop running clustering", {}, Switch.CLUSTERING, True, "true"),
    ("stop stopped clustering", STOPPED_CLUSTERING, Switch.CLUSTERING, True, "unchanged"),
    ("start stopped clustering", STOPPED_CLUSTERING, Switch.CLUSTERING, False, None),
    ("start running clustering", {}, Switch.CLUSTERING, False, "unchanged"),
    (
        "start with another value",
        {constants.ANN_CLUSTERING_STOPPED: "yes"},
        Switch.CLUSTERING,
        False,
        "unchanged",
    ),
    ("stop reconciliation", STOPPED_CLUSTERING, Switch.RECONCILIATION, True, "true"),
    ("start stopped reconciliation", STOPPED_RECONCILIATION, Switch.RECONCILIATION, False, None),
]


@pytest.mark.parametrize(("case", "anns", "switch", "stop", "value"), SWITCHES, ids=[t[0] for t in SWITCHES])
def test_switch_patch(case: str, anns: dict[str, str], switch: Switch, stop: bool, value: str | None) -> None:
    patch = actions.switch_patch(view(annotations=anns), switch, stop=stop)
    if value == "unchanged":
        assert patch is None, case
    else:
        assert patch == {"metadata": {"annotations": {switch.value: value}}}, case


PICK = [
    # (case, view, --index, chosen or refusal fragment)
    ("default is the primary", view(current_primary_index=1), None, 1),
    ("explicit index", view(), 2, 2),
    ("index zero", view(current_primary_index=2), 0, 0),
    ("past the end", view(), 3, "--index 3 names none"),
    ("negative", view(), -1, "--index -1 names none"),
    ("offline", view(offline=True), None, "offline"),
]


@pytest.mark.parametrize(("case", "v", "index", "want"), PICK, ids=[t[0] for t in PICK])
def test_pick_index(case: str, v: ClusterView, index: int | None, want: int | str) -> None:
    if isinstance(want, int):
        assert actions.pick_index(v, index) == want, case
    else:
        with pytest.raises(Refused, match=want):
            actions.pick_index(v, index)


def test_exec_argv_hands_on_only_the_flags_given() -> None:
    bare = Target(kubeconfig="/k", context="dev", namespace="ns")
    assert actions.exec_argv("kubectl", bare, "moco-db-0", "moco-readonly") == [
        "kubectl",
        "--namespace=ns",
        "exec",
        "moco-db-0",
        "--container=mysqld",
        "--",
        "mysql",
        "--defaults-extra-file=/mysql-credentials/moco-readonly-my.cnf",
    ]
    flagged = Target(kubeconfig="/k", context="dev", namespace="ns", kubeconfig_flag="/k", context_flag="dev")
    argv = actions.exec_argv(
        "/bin/kubectl",
        flagged,
        "moco-db-2",
        "moco-admin",
        stdin=True,
        tty=True,
        args=["-N", "-e", "SELECT 1"],
    )
    assert argv[:5] == ["/bin/kubectl", "--kubeconfig=/k", "--context=dev", "--namespace=ns", "exec"]
    assert argv[5:8] == ["--stdin", "--tty", "moco-db-2"]
    assert argv[-4:] == ["--defaults-extra-file=/mysql-credentials/moco-admin-my.cnf", "-N", "-e", "SELECT 1"]
    with pytest.raises(PluginError, match="unknown user"):
        actions.exec_argv("kubectl", bare, "moco-db-0", "moco-agent")


def secret(**data: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "moco-db"},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


@pytest.mark.parametrize(
    ("user", "password"), [("moco-readonly", "r"), ("moco-writable", "w"), ("moco-admin", "a")]
)
def test_password_of_reads_mocos_keys(user: str, password: str) -> None:
    s = secret(READONLY_PASSWORD="r", WRITABLE_PASSWORD="w", ADMIN_PASSWORD="a", AGENT_PASSWORD="x")
    assert actions.password_of(s, user, "ns/db") == password


def test_password_of_refuses() -> None:
    with pytest.raises(NotFound, match="has no WRITABLE_PASSWORD"):
        actions.password_of(secret(READONLY_PASSWORD="r"), "moco-writable", "ns/db")
    with pytest.raises(PluginError, match="unknown user"):
        actions.password_of(secret(AGENT_PASSWORD="x"), "moco-agent", "ns/db")
    with pytest.raises(PluginError, match="not valid base64"):
        actions.password_of({"data": {"ADMIN_PASSWORD": "***"}}, "moco-admin", "ns/db")


def test_credential_text() -> None:
    assert actions.credential_text("moco-admin", "pw", "plain") == "pw\n"
    assert (
        actions.credential_text("moco-admin", "pw", "mycnf") == '[client]\nuser="moco-admin"\npassword="pw"\n'
    )
    with pytest.raises(PluginError, match="unknown format"):
        actions.credential_text("moco-admin", "pw", "yaml")
