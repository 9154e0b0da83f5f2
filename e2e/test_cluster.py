"""The cluster is usable: every node Ready, the API reachable from pods, cluster DNS answering."""

from __future__ import annotations

import time

from e2e.kubectl import Kubectl


def test_every_node_is_ready(kube: Kubectl) -> None:
    nodes = kube.get("nodes")["items"]
    assert nodes
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]


def test_cluster_dns_resolves_the_kubernetes_service(kube: Kubectl, k: Kubectl, shell_pod: str) -> None:
    want = kube.get("service", "-n", "default", "kubernetes")["spec"]["clusterIP"]
    out = k.exec(shell_pod, "nslookup", "kubernetes.default.svc.cluster.local")
    assert f"Address: {want}" in out, out


def test_cluster_dns_answers_reverse_lookups_at_once(k: Kubectl, shell_pod: str) -> None:
    """mysqld looks up every client address: an unknown one must fail fast, not time out."""
    pod_ip = k.get("pod", shell_pod)["status"]["podIP"]
    t0 = time.monotonic()
    _, out = k.exec_rc(shell_pod, "nslookup", pod_ip, timeout=30)
    took = time.monotonic() - t0
    # A resolver timeout is 5 s; kubectl exec itself takes a fraction of a second.
    assert took < 3.0, (took, out)
    assert "timed out" not in out, out


def test_dns_service_has_endpoints(kube: Kubectl) -> None:
    slices = kube.get("endpointslices", "-n", "kube-system", "-l", "kubernetes.io/service-name=kube-dns")
    addresses = [a for s in slices["items"] for e in s.get("endpoints") or [] for a in e["addresses"]]
    assert addresses
