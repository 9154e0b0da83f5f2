"""Operator upgrade: a new moco-controller release restarts no mysqld Pod, and still reconciles
and fails over.

The scenario deploys a real new release of the controller over the running one: the same sources
with another version baked into the wheel (``python -m e2e.local moco-image --version V``: a new
image reference, and ``moco-controller`` reports V), or the image named by
``MOCO_E2E_UPGRADE_IMAGE`` (already on the nodes). It applies it with ``e2e/deploy.py`` as
``make deploy`` does, and checks that:

* no mysqld Pod restarted: every Pod of the 3-instance cluster has the UID and the restart
  counts it had before, and the StatefulSet's spec was not changed (its generation);
* the new controller reconciles: a label added to the primary Service's template reaches the
  Service;
* it fails over: the primary's mysqld is killed under writes, another instance takes over with
  every acknowledged write.

The controller that was deployed before is deployed again at the end (the cluster is shared by
the other scenarios). Recorded: ``upgrade_mysqld_restarts`` (must be 0), ``upgrade_mysqld_pods_before`` /
``upgrade_mysqld_pods_after`` (Pod -> UID and restart count per container),
``upgrade_controller_rollout_s``, ``upgrade_failover_unavailable_s``,
``upgrade_failover_acknowledged``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from e2e import moco_cluster as mc
from e2e.conftest import is_local_cluster
from e2e.kubectl import Kubectl
from e2e.local.images import REPO_ROOT
from e2e.mysql_access import access
from e2e.writes import assert_nothing_lost, through_primary_change

#: cluster creation (up to 10 minutes on a loaded machine), a controller build (~2 minutes), the
#: scenario and the redeployment of the previous controller.
pytestmark = pytest.mark.timeout(1800)

NAME = "upgrade"
#: the version the new release reports (a PEP 440 local version: the sources are the checkout's)
UPGRADE_VERSION = "0.1.0+e2e.upgrade"
#: how long the new controller runs before the Pods are compared: several reconciles and passes
SETTLE_S = 30.0


def _controller(kube: Kubectl) -> dict[str, Any]:
    return kube.ns(mc.SYSTEM_NAMESPACE).get("deployment", mc.CONTROLLER)  # type: ignore[no-any-return]


def _container_env(dep: dict[str, Any]) -> dict[str, str]:
    c = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: str(e["value"]) for e in c.get("env") or [] if "value" in e}


def _image(dep: dict[str, Any]) -> str:
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def _run(*argv: str, timeout: float) -> str:
    r = subprocess.run(
        [sys.executable, *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if r.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        )
    return r.stdout


def new_release(kube: Kubectl) -> str:
    """The reference of the new controller release, on every node."""
    if "MOCO_E2E_UPGRADE_IMAGE" in os.environ:
        return os.environ["MOCO_E2E_UPGRADE_IMAGE"]
    assert is_local_cluster(kube.kubeconfig), (
        "only the local provider builds the new release: set MOCO_E2E_UPGRADE_IMAGE to another "
        "moco image on the nodes"
    )
    out = _run("-m", "e2e.local", "moco-image", "--version", UPGRADE_VERSION, timeout=900)
    return out.strip().splitlines()[-1]


def deploy(image: str, backup_image: str | None) -> None:
    _run("-m", "e2e.deploy", image, *([backup_image] if backup_image else []), timeout=400)


def controller_starts(kube: Kubectl, image: str) -> dict[str, str]:
    """Pod -> the last start line of each live controller Pod that runs ``image``.

    Each Pod is read by name: ``kubectl logs deployment/...`` picks any Pod of the Deployment's
    selector, and right after a rollout that may still be a terminating Pod of the release before.
    """
    ctl = kube.ns(mc.SYSTEM_NAMESPACE)
    out = {}
    for p in ctl.get("pods")["items"]:
        name = p["metadata"]["name"]
        if not name.startswith(mc.CONTROLLER) or p["metadata"].get("deletionTimestamp"):
            continue
        if p["spec"]["containers"][0]["image"] != image:
            continue
        lines = ctl("logs", name, "--tail=-1").splitlines()
        starts = [line for line in lines if "moco-controller starting" in line]
        out[name] = starts[-1] if starts else "(no start line)"
    return out


def mysqld_pods(k: Kubectl) -> dict[str, tuple[str, dict[str, int]]]:
    """Pod name -> (UID, container name -> restart count) of the cluster's mysqld Pods."""
    pods = k.get("pods", "-l", f"app.kubernetes.io/name=mysql,app.kubernetes.io/instance={NAME}")["items"]
    return {
        p["metadata"]["name"]: (
            p["metadata"]["uid"],
            {
                c["name"]: int(c.get("restartCount", 0))
                for c in (p.get("status") or {}).get("containerStatuses") or []
            },
        )
        for p in pods
    }


def restarts_between(
    before: dict[str, tuple[str, dict[str, int]]], after: dict[str, tuple[str, dict[str, int]]]
) -> list[str]:
    """Every Pod re-created or container restarted from ``before`` to ``after``, said in words."""
    out = []
    for pod, (uid, counts) in sorted(before.items()):
        if pod not in after:
            out.append(f"{pod} is gone")
            continue
        new_uid, new_counts = after[pod]
        if new_uid != uid:
            out.append(f"{pod} was re-created ({uid} -> {new_uid})")
        for c, n in sorted(counts.items()):
            if new_counts.get(c, n) != n:
                out.append(f"{pod}/{c} restarted ({n} -> {new_counts.get(c)})")
    return out


@pytest.fixture(scope="module")
def k(kube: Kubectl) -> Iterator[Kubectl]:
    mc.require_moco(kube)
    with mc.scenario_namespace(kube, "upgrade") as k:
        mc.apply(k, mc.minimal(NAME, str(k.namespace), replicas=3))
        mc.wait_healthy(k, NAME)
        yield k


async def test_controller_upgrade_restarts_no_mysqld(
    k: Kubectl, kube: Kubectl, record_testsuite_property: Callable[[str, object], None]
) -> None:
    previous = _controller(kube)
    old_image, old_env = _image(previous), _container_env(previous)
    assert old_env.get("MOCO_AGENT_IMAGE") != old_image, (
        "moco was deployed with manifests that give the agent the controller's image: `make deploy` first"
    )
    new_image = new_release(kube)
    assert new_image != old_image, f"the new release has the running controller's image {old_image}"

    pods_before = mysqld_pods(k)
    assert len(pods_before) == 3, pods_before
    sts_before = k.get("statefulset", f"moco-{NAME}")
    t0 = time.monotonic()
    try:
        # the backup image stays the one on the nodes (the new release's was not built)
        deploy(new_image, old_env.get("MOCO_BACKUP_IMAGE"))
        record_testsuite_property("upgrade_controller_rollout_s", round(time.monotonic() - t0, 1))
        running = _controller(kube)
        assert _image(running) == new_image
        if "MOCO_E2E_UPGRADE_IMAGE" not in os.environ:
            starts = controller_starts(kube, new_image)
            assert starts, f"no live controller Pod runs {new_image}"
            wrong = {pod: line for pod, line in starts.items() if UPGRADE_VERSION not in line}
            assert not wrong, f"the new release does not run (start lines): {wrong}"

        # the new release reconciles the cluster: a label of the primary Service's template
        k(
            "patch", "mysqlcluster", NAME, "--type=merge", "-p",
            '{"spec":{"primaryServiceTemplate":{"metadata":{"labels":{"example.com/release":"upgraded"}}}}}',
        )  # fmt: skip
        mc.wait(
            k,
            NAME,
            "the new controller applied the primary Service's template",
            lambda: (
                k.get("service", f"moco-{NAME}-primary")["metadata"]["labels"].get("example.com/release")
                == "upgraded"
            ),
            120,
        )
        await asyncio.sleep(
            SETTLE_S
        )  # reconciles, clustering passes, partition steps: any would restart a Pod
        mc.wait_healthy(k, NAME, timeout=120)
        pods_after = mysqld_pods(k)
        restarted = restarts_between(pods_before, pods_after)
        record_testsuite_property("upgrade_mysqld_pods_before", json.dumps(pods_before, sort_keys=True))
        record_testsuite_property("upgrade_mysqld_pods_after", json.dumps(pods_after, sort_keys=True))
        record_testsuite_property("upgrade_mysqld_restarts", len(restarted))
        assert not restarted, f"the controller upgrade restarted mysqld Pods: {restarted}"
        # the spec as written (the StatefulSet controller's status writes change resourceVersion)
        sts_after = k.get("statefulset", f"moco-{NAME}")
        assert sts_after["metadata"]["generation"] == sts_before["metadata"]["generation"], (
            "the new controller changed the StatefulSet's spec"
        )
        assert sts_after["spec"]["template"] == sts_before["spec"]["template"]

        # and it fails over: the primary's mysqld is killed under writes
        def kill_mysqld(primary: int) -> None:
            k("exec", f"moco-{NAME}-{primary}", "-c", "mysqld", "--", "sh", "-c", "kill 1")

        with access(k, NAME) as acc:
            out = await through_primary_change(k, NAME, acc, kill_mysqld)
        record_testsuite_property("upgrade_failover_unavailable_s", out.unavailable_s)
        record_testsuite_property("upgrade_failover_acknowledged", out.acknowledged)
        assert out.new_primary != out.old_primary
        assert_nothing_lost(k, NAME, out)
    finally:
        deploy(old_image, old_env.get("MOCO_BACKUP_IMAGE"))
