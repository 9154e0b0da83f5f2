"""No generated password in anything moco says, through a cluster's whole life in real Pods.

A 3-instance cluster is created, one replica is wiped and cloned again, the primary is switched
over with ``kubectl moco switchover`` and then failed over (``kill 1`` in its mysqld container).
Before each disruptive step and at the end, everything moco wrote is captured:

- every log line of every container of the cluster's Pods (agent, mysqld, init containers,
  sidecars; the previous run of each restarted container too) and of the Jobs' Pods;
- every log line of the moco-controller Pods (both replicas, previous runs included);
- every Event of the cluster's namespace and of moco's namespace;
- the MySQLCluster as the apiserver holds it (status included);
- the output (stdout and stderr) of each ``kubectl moco`` command run (``status``, ``status -o
  json``, ``mysql``, ``switchover``; ``credential`` prints a password by design and is left out).

The generated passwords are the values of the controller Secret ``mysql-<ns>.<name>`` (moco's
namespace) and of the user Secret ``moco-<name>``. The test fails naming the Secret key and the
source that holds one (never the password). It first proves the capture holds what it should
(the controller's lines about this cluster, the switchover's and failover's Events, the agents'
clone lines), so an empty capture cannot pass.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from e2e import moco_cluster as mc
from e2e.kubectl import Kubectl, KubectlError
from e2e.test_scenario_plugin import moco

#: cluster creation (up to 10 minutes on a loaded machine) + a clone + two primary changes.
pytestmark = pytest.mark.timeout(2400)

NAME = "leaks"
CLONE_TIMEOUT = 900.0
CHANGE_TIMEOUT = 420.0
#: shorter values could match by chance; every generated password is far longer
MIN_SECRET_LENGTH = 8


@dataclass
class Capture:
    """Everything moco said, by source ("logs ns/pod/container", "events ns", ...)."""

    k: Kubectl
    kube: Kubectl
    texts: dict[str, str] = field(default_factory=dict)

    def add(self, source: str, text: str) -> None:
        # a source read again later holds at least as many lines (a running container's log only
        # grows; each previous run of a container is a source of its own)
        if len(text) >= len(self.texts.get(source, "")):
            self.texts[source] = text

    def _logs(self, k: Kubectl, pod: dict[str, object]) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        assert isinstance(meta, dict)
        assert isinstance(spec, dict)
        assert isinstance(status, dict)
        restarts = {
            c["name"]: int(c.get("restartCount", 0))
            for c in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
        }
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            # by the Pod's uid: a Pod re-created under the same name (the wiped replica) is a new source
            where = f"logs {k.namespace}/{meta['name']}@{str(meta['uid'])[:8]}/{c['name']}"
            self.add(where, k("logs", str(meta["name"]), "-c", c["name"], check=False, timeout=60))
            if restarts.get(c["name"], 0) > 0:
                previous = k(
                    "logs", str(meta["name"]), "-c", c["name"], "--previous", check=False, timeout=60
                )
                self.add(f"{where} (run {restarts[c['name']]})", previous)  # each restarted run apart

    def snapshot(self) -> None:
        for pod in self.k.get("pods")["items"]:
            self._logs(self.k, pod)
        system = self.kube.ns(mc.SYSTEM_NAMESPACE)
        for pod in system.get("pods", "-l", f"app.kubernetes.io/component={mc.CONTROLLER}")["items"]:
            self._logs(system, pod)
        for k in (self.k, system):
            self.add(f"events {k.namespace}", json.dumps(k.get("events")["items"]))
        self.add("mysqlcluster", json.dumps(self.k.get("mysqlcluster", NAME)))

    def plugin(self, *args: str, timeout: float = 300) -> str:
        r = moco(self.k, *args, timeout=timeout)
        self.add(f"kubectl moco {' '.join(args)} (#{len(self.texts)})", r.stdout + r.stderr)
        assert r.returncode == 0, f"kubectl moco {' '.join(args)} -> {r.returncode}: {r.stderr[-2000:]}"
        return r.stdout

    def all(self) -> str:
        return "\n".join(self.texts.values())


def generated_passwords(k: Kubectl, kube: Kubectl) -> dict[str, str]:
    """``<secret>/<key>`` -> value, for every value of the two Secrets that hold passwords."""
    out: dict[str, str] = {}
    controller_secret = f"mysql-{k.namespace}.{NAME}"
    for kk, name in ((kube.ns(mc.SYSTEM_NAMESPACE), controller_secret), (k, f"moco-{NAME}")):
        for key, value in kk.get("secret", name)["data"].items():
            text = base64.b64decode(value).decode()
            if len(text) >= MIN_SECRET_LENGTH:
                out[f"{name}/{key}"] = text
    return out


def leaks(passwords: dict[str, str], texts: dict[str, str]) -> list[str]:
    """``<secret key> in <source>`` for every password found in a source (never the password)."""
    return [
        f"{key} in {where}" for key, pw in passwords.items() for where, text in texts.items() if pw in text
    ]


def _wait_primary_change(k: Kubectl, old: int) -> None:
    mc.wait(k, NAME, f"a primary other than {old}", lambda: mc.primary_index(k, NAME) != old, CHANGE_TIMEOUT)
    mc.wait_healthy(k, NAME)


def _wipe_and_reclone(k: Kubectl, capture: Capture) -> None:
    """MOCO's manual way to re-initialise a replica: delete its claim, then its Pod."""
    replica = next(i for i in range(3) if i != mc.primary_index(k, NAME))
    pod, pvc = f"moco-{NAME}-{replica}", f"mysql-data-moco-{NAME}-{replica}"
    old_pvc = k.get("pvc", pvc)["metadata"]["uid"]
    capture.snapshot()  # the Pod's logs go with it
    k("delete", "pvc", pvc, "--wait=false")
    k("delete", "pod", pod, "--wait=true", timeout=180)
    last_kick = [time.monotonic()]

    def recloned() -> bool:
        try:
            claim = k.get("pvc", pvc)
        except KubectlError:
            claim = None
        if claim is None or claim["metadata"]["uid"] == old_pvc:
            # a Pod re-created while its old claim was terminating waits for ever: delete it again
            if time.monotonic() - last_kick[0] > 60:
                k("delete", "pod", pod, "--wait=false", check=False)
                last_kick[0] = time.monotonic()
            return False
        events = k.get("events", f"--field-selector=involvedObject.name={NAME}")["items"]
        cloned = any(
            e.get("reason") == "Cloned" and f"instance {replica} " in e.get("message", "") for e in events
        )
        return cloned and mc.is_healthy(k, NAME) and mc.status(k, NAME).get("syncedReplicas") == 3

    mc.wait(k, NAME, f"{pod} re-created empty, cloned, Healthy", recloned, timeout=CLONE_TIMEOUT)


@pytest.fixture(scope="module")
def lived(kube: Kubectl) -> Iterator[tuple[Kubectl, Capture]]:
    """The cluster after its whole life, and what was captured along the way."""
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "leaks") as k:
        capture = Capture(k, kube)
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=3))
        mc.wait_healthy(k, NAME)
        capture.plugin("mysql", NAME, "--", "-N", "-e", "SELECT @@hostname")
        # data on the primary: a wiped replica is then seeded by CLONE (an empty one just replicates)
        capture.plugin(
            "mysql",
            "-u",
            "moco-writable",
            NAME,
            "--",
            "-e",
            "CREATE DATABASE IF NOT EXISTS e2e; CREATE TABLE IF NOT EXISTS e2e.seed (v INT PRIMARY KEY);"
            " INSERT INTO e2e.seed VALUES (1)",
        )
        _wipe_and_reclone(k, capture)
        capture.plugin("status", NAME)
        old = mc.primary_index(k, NAME)
        capture.snapshot()
        capture.plugin(
            "switchover", "--wait", "--timeout", str(int(CHANGE_TIMEOUT)), NAME, timeout=CHANGE_TIMEOUT + 30
        )
        _wait_primary_change(k, old)
        old = mc.primary_index(k, NAME)
        capture.snapshot()
        k("exec", f"moco-{NAME}-{old}", "-c", "mysqld", "--", "sh", "-c", "kill 1")
        _wait_primary_change(k, old)
        capture.plugin("status", NAME)
        capture.plugin("status", "-o", "json", NAME)
        capture.snapshot()
        yield k, capture


def test_the_capture_holds_what_moco_said(lived: tuple[Kubectl, Capture]) -> None:
    k, capture = lived
    controller = "\n".join(
        v for s, v in capture.texts.items() if s.startswith(f"logs {mc.SYSTEM_NAMESPACE}/")
    )
    assert f'"cluster": "{NAME}"' in controller or f"cluster={NAME}" in controller, (
        "no controller line of the cluster"
    )
    events = capture.texts[f"events {k.namespace}"]
    for reason in ("SwitchOver", "FailOver", "Cloned"):
        assert f'"reason": "{reason}"' in events, reason
    agents = "\n".join(v for s, v in capture.texts.items() if s.endswith("/agent") or "/agent (run " in s)
    assert "clone" in agents.lower(), "no agent line about the clone"
    assert any(s.startswith("kubectl moco switchover") for s in capture.texts)
    assert '"currentPrimaryIndex"' in capture.texts["mysqlcluster"]


def test_no_generated_password_anywhere(
    lived: tuple[Kubectl, Capture], kube: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    k, capture = lived
    passwords = generated_passwords(k, kube)
    # admin, agent, replication, clone-donor, ... in both Secrets
    assert len(passwords) >= 8, sorted(passwords)
    # the check finds a password where there is one (so a pass below means none was there); a
    # password is under one key in each Secret (the controller's and the user's): each is named
    planted = next(iter(passwords.values()))
    holders = [key for key, pw in passwords.items() if pw == planted]
    assert leaks(passwords, {"planted": f"... {planted} ..."}) == [f"{key} in planted" for key in holders]
    record_testsuite_property("leak_capture_sources", len(capture.texts))
    record_testsuite_property("leak_capture_bytes", len(capture.all()))
    found = leaks(passwords, capture.texts)
    assert not found, "generated passwords leaked: " + "; ".join(found)
