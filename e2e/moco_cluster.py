"""MySQLClusters in the e2e scenarios: manifests, waits, and what to show when a wait fails.

Every wait has a generous bound (a loaded 2-core machine creates a 3-instance cluster in 1-2
minutes) and, when it runs out, raises an :class:`AssertionError` whose message carries the
cluster's status, ``kubectl describe`` of its Pods, the tail of their containers' logs, the
namespace's events and the controller's log: a CI failure explains itself.

Manifests: :func:`example` loads one of MOCO's examples (``unit_tests/api/examples``) and
changes only what the ground requires: the namespace and the mysqld image (MOCO's images are not
pulled here). The slow-query-log sidecar runs as the example asks (moco's own image by default).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import yaml

from e2e import images
from e2e.kubectl import Kubectl, KubectlError

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "unit_tests" / "api" / "examples"
SYSTEM_NAMESPACE = "moco-system"
CONTROLLER = "moco-controller"
ROLE = "moco.cybozu.com/role"
HEALTHY_TIMEOUT = 600.0  # within the scenarios' pytest timeout (1500 s)


# --- manifests ------------------------------------------------------------------------------------
def example(file: str, namespace: str) -> dict[str, Any]:
    """The MySQLCluster of a MOCO example, with the ground's image, in ``namespace``."""
    docs = [d for d in yaml.safe_load_all((EXAMPLES / file).read_text()) if d]
    clusters = [d for d in docs if d.get("kind") == "MySQLCluster"]
    assert len(clusters) == 1, f"{file}: expected one MySQLCluster, found {len(clusters)}"
    cluster: dict[str, Any] = clusters[0]
    cluster["metadata"]["namespace"] = namespace
    for c in cluster["spec"]["podTemplate"]["spec"]["containers"]:
        if c["name"] == "mysqld":
            c["image"] = images.mysql_image()
    return cluster


def minimal(name: str, namespace: str, replicas: int, storage: str = "256Mi") -> dict[str, Any]:
    """The smallest MySQLCluster: ``replicas`` instances, one data volume, no sidecar but the agent
    (the slow-query-log sidecar is turned off to keep the scenarios light)."""
    return {
        "apiVersion": "moco.cybozu.com/v1beta2",
        "kind": "MySQLCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "disableSlowQueryLogContainer": True,
            "podTemplate": {"spec": {"containers": [{"name": "mysqld", "image": images.mysql_image()}]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "mysql-data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": storage}},
                    },
                }
            ],
        },
    }


# --- namespaces -----------------------------------------------------------------------------------
#: Pod Security Admission for scenario namespaces: moco's Pods must pass the strictest level
POD_SECURITY: Final = "restricted"


@contextmanager
def scenario_namespace(
    kube: Kubectl, scenario: str, *, pod_security: str | None = POD_SECURITY
) -> Iterator[Kubectl]:
    """A fresh namespace for one scenario; deleted (without waiting) afterwards.

    It enforces the ``pod_security`` level (``restricted`` by default: every Pod moco makes, and
    the scenarios' own client Pods, pass it); None leaves the namespace unlabelled."""
    name = f"moco-e2e-{scenario}-{secrets.token_hex(2)}"
    kube("create", "namespace", name)
    if pod_security is not None:
        kube(
            "label",
            "namespace",
            name,
            f"pod-security.kubernetes.io/enforce={pod_security}",
            "pod-security.kubernetes.io/enforce-version=latest",
        )
    try:
        yield kube.ns(name)
    finally:
        kube("delete", "mysqlclusters", "--all", f"--namespace={name}", "--wait=false", check=False)
        kube("delete", "namespace", name, "--wait=false", check=False)


def require_moco(kube: Kubectl) -> None:
    """Fail clearly when moco's controller is not running on this cluster."""
    try:
        dep = kube.ns(SYSTEM_NAMESPACE).get("deployment", CONTROLLER)
    except KubectlError as e:
        raise AssertionError(f"moco is not deployed on this cluster (run `make deploy`): {e}") from None
    assert dep["status"].get("availableReplicas", 0) >= 1, f"moco-controller not available: {dep['status']}"


# --- status ---------------------------------------------------------------------------------------
def status(k: Kubectl, name: str) -> dict[str, Any]:
    return k.get("mysqlcluster", name).get("status") or {}


def conditions(k: Kubectl, name: str) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status(k, name).get("conditions") or []}


def is_healthy(k: Kubectl, name: str) -> bool:
    return conditions(k, name).get("Healthy") == "True"


def primary_index(k: Kubectl, name: str) -> int:
    return int(status(k, name)["currentPrimaryIndex"])


def errant(k: Kubectl, name: str) -> set[int]:
    """The indices the status lists as errant replicas."""
    return {int(i) for i in status(k, name).get("errantReplicaList") or []}


def reinitialize(k: Kubectl, name: str, index: int) -> None:
    """Re-initialize an instance as MOCO documents it for an errant replica: its claim and its Pod
    are deleted; the StatefulSet re-creates both, empty, and the loop clones the new instance."""
    k("delete", "pvc", f"mysql-data-moco-{name}-{index}", "--wait=false")
    k("delete", "pod", f"moco-{name}-{index}", "--wait=false")


def roles(k: Kubectl, name: str) -> dict[str, str]:
    """mysqld Pod name -> the role label moco put on it (``""`` when none)."""
    pods = k.get("pods", "-l", f"app.kubernetes.io/name=mysql,app.kubernetes.io/instance={name}")["items"]
    return {p["metadata"]["name"]: p["metadata"]["labels"].get(ROLE, "") for p in pods}


# --- diagnostics ----------------------------------------------------------------------------------
def diagnostics(k: Kubectl, name: str, tail: int = 40) -> str:
    """What a reader needs to understand a failed scenario (never raises)."""
    out: list[str] = []

    def section(title: str, *args: str, kube: Kubectl = k) -> None:
        try:
            text = kube(*args, timeout=30).rstrip()
        except (KubectlError, subprocess.TimeoutExpired) as e:
            text = f"(kubectl failed: {e})"
        out.append(f"----- {title}\n{text}")

    section("mysqlcluster status", "get", "mysqlcluster", name, "-o", "jsonpath={.status}")
    section("pods", "get", "pods", "-o", "wide", "-L", ROLE)
    section("describe pods", "describe", "pods", "-l", f"app.kubernetes.io/instance={name}")
    pods = k("get", "pods", "-l", f"app.kubernetes.io/instance={name}", "-o", "name", check=False).split()
    for pod in pods:
        for container in ("mysqld", "agent"):
            section(f"logs {pod} -c {container}", "logs", pod, "-c", container, f"--tail={tail}")
            section(
                f"previous logs {pod} -c {container}",
                "logs",
                pod,
                "-c",
                container,
                "--previous",
                f"--tail={tail}",
            )
    section("events", "get", "events", "--sort-by=.lastTimestamp")
    ctl = k.ns(SYSTEM_NAMESPACE)
    section("controller log", "logs", f"deployment/{CONTROLLER}", f"--tail={tail * 3}", kube=ctl)
    return "\n".join(out)


def wait(k: Kubectl, name: str, what: str, check: Any, timeout: float, interval: float = 2.0) -> Any:
    """Poll ``check()`` until truthy; on timeout fail with ``what`` and the diagnostics."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (KubectlError, KeyError, ValueError, subprocess.TimeoutExpired) as e:
            last = e  # not there yet, or a transient API error: retried until the deadline
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})\n{diagnostics(k, name)}")


def wait_healthy(k: Kubectl, name: str, timeout: float = HEALTHY_TIMEOUT) -> float:
    """Wait until the cluster's Healthy condition is True; returns the seconds it took."""
    t0 = time.monotonic()
    wait(k, name, f"MySQLCluster {k.namespace}/{name} Healthy", lambda: is_healthy(k, name), timeout)
    return time.monotonic() - t0


def apply(k: Kubectl, manifest: dict[str, Any]) -> None:
    k.apply(json.dumps(manifest))
