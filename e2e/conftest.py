"""Fixtures of the e2e suite: the cluster (from ``KUBECONFIG``, else the local provider's),
a throw-away namespace per session, and pods that tests share.

Tests of the local provider's own machinery (the network guard) are collected only when the
cluster is the local provider's; on any other cluster they are deselected, which the summary
line reports.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import images
from e2e.kubectl import Kubectl, default_kubeconfig
from e2e.local.spec import ClusterSpec

LOCAL_ONLY = "local_provider"


def is_local_cluster(kubeconfig: Path) -> bool:
    return kubeconfig.resolve() == ClusterSpec().kubeconfig.resolve() and ClusterSpec().state_file.exists()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{LOCAL_ONLY}: checks the local provider's own machinery")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)
    if is_local_cluster(default_kubeconfig()):
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (drop if LOCAL_ONLY in item.keywords else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def kube() -> Kubectl:
    kc = default_kubeconfig()
    if not kc.exists():
        pytest.fail(f"no cluster: {kc} does not exist (run `make cluster` or set KUBECONFIG)")
    return Kubectl(kc)


@pytest.fixture(scope="session")
def namespace(kube: Kubectl) -> Iterator[str]:
    name = f"moco-e2e-{secrets.token_hex(3)}"
    kube("create", "namespace", name)
    yield name
    kube("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def k(kube: Kubectl, namespace: str) -> Kubectl:
    """kubectl bound to the session's namespace."""
    return kube.ns(namespace)


def pod_manifest(name: str, image: str, command: list[str], **spec: object) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "main", "image": image, "imagePullPolicy": images.pull_policy(), "command": command}
            ],
            **spec,
        },
    }
    return json.dumps(pod)


@pytest.fixture(scope="session")
def shell_pod(k: Kubectl) -> str:
    """A long-running busybox pod to run probes from."""
    k.apply(pod_manifest("shell", images.shell_image(), ["sleep", "86400"]))
    k.wait_ready("pod/shell", timeout=120)
    return "shell"
