"""The cluster add-ons of a local cluster, as manifests applied with kubectl: CoreDNS and
rancher's local-path provisioner with a default StorageClass ``standard`` (as in kind) that
allows volume expansion.

Both run as Pods from the locally built images (``imagePullPolicy: Never``), which keeps them
ordinary cluster citizens — what a user of kind or any cluster sees — and proves image import,
scheduling, pod networking and in-cluster API access on every start. CoreDNS serves
``cluster.local`` and the reverse zones from the API and has no ``forward``: a name it does not
own is refused at once, so no query ever leaves the node and mysqld's reverse lookups of pod
addresses return without delay.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from e2e.local.images import ImageDef
from e2e.local.spec import ClusterSpec

COREFILE = """.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes %(domain)s in-addr.arpa ip6.arpa {
        pods insecure
        ttl 30
    }
    cache 30
    loadbalance
}
"""

LOCAL_PATH_SETUP = """#!/bin/sh
set -eu
mkdir -m 0777 -p "$VOL_DIR"
"""
LOCAL_PATH_TEARDOWN = """#!/bin/sh
set -eu
rm -rf "$VOL_DIR"
"""


def _sa(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}


def _cluster_role(name: str, rules: list[dict[str, Any]], sa: str, ns: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
        },
    ]


def _deployment(
    name: str, ns: str, labels: dict[str, str], *, sa: str, pod_spec: dict[str, Any], replicas: int = 1
) -> dict[str, Any]:
    """An add-on Deployment that runs on any node (tolerates every taint)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"serviceAccountName": sa, "tolerations": [{"operator": "Exists"}], **pod_spec},
            },
        },
    }


def coredns(spec: ClusterSpec, image: ImageDef) -> list[dict[str, Any]]:
    ns = "kube-system"
    labels = {"k8s-app": "kube-dns"}
    rules = [
        {
            "apiGroups": [""],
            "resources": ["endpoints", "services", "pods", "namespaces"],
            "verbs": ["list", "watch"],
        },
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    return [
        _sa("coredns", ns),
        *_cluster_role("system:coredns", rules, "coredns", ns),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": ns},
            "data": {"Corefile": COREFILE % {"domain": spec.cluster_domain}},
        },
        _deployment(
            "coredns",
            ns,
            labels,
            sa="coredns",
            # kubeadm's two replicas, on two nodes where there are two: a lost node leaves the
            # cluster's DNS up (the chaos tier loses nodes)
            replicas=min(2, spec.nodes),
            pod_spec={
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "podAffinityTerm": {
                                    "labelSelector": {"matchLabels": labels},
                                    "topologyKey": "kubernetes.io/hostname",
                                },
                            }
                        ]
                    }
                },
                "priorityClassName": "system-cluster-critical",
                "dnsPolicy": "Default",
                "containers": [
                    {
                        "name": "coredns",
                        "image": image.ref,
                        "imagePullPolicy": "Never",
                        "args": ["-conf", "/etc/coredns/Corefile"],
                        "ports": [
                            {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                            {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                        ],
                        "readinessProbe": {
                            "httpGet": {"path": "/ready", "port": 8181},
                            "periodSeconds": 2,
                        },
                        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
            },
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": ns, "labels": labels},
            "spec": {
                "clusterIP": spec.dns_service_ip,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                ],
            },
        },
    ]


def local_path(spec: ClusterSpec, image: ImageDef, helper: ImageDef) -> list[dict[str, Any]]:
    ns = "local-path-storage"
    sa = "local-path-provisioner-service-account"
    labels = {"app": "local-path-provisioner"}
    rules = [
        {"apiGroups": [""], "resources": ["nodes", "namespaces"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": [""],
            "resources": ["persistentvolumeclaims", "configmaps", "pods", "pods/log"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]},
    ]
    node_paths = [{"node": n.name, "paths": [str(n.local_path_dir)]} for n in spec.node_specs]
    helper_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "helper-pod", "image": helper.ref, "imagePullPolicy": "Never"}],
        },
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        _sa(sa, ns),
        *_cluster_role("local-path-provisioner", rules, sa, ns),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "local-path-config", "namespace": ns},
            "data": {
                "config.json": json.dumps({"nodePathMap": node_paths}),
                "setup": LOCAL_PATH_SETUP,
                "teardown": LOCAL_PATH_TEARDOWN,
                "helperPod.yaml": yaml.safe_dump(helper_pod),
            },
        },
        _deployment(
            "local-path-provisioner",
            ns,
            labels,
            sa=sa,
            pod_spec={
                "containers": [
                    {
                        "name": "local-path-provisioner",
                        "image": image.ref,
                        "imagePullPolicy": "Never",
                        "command": [
                            "local-path-provisioner",
                            "start",
                            "--config=/etc/config/config.json",
                            f"--service-account-name={sa}",
                            "--provisioner-name=rancher.io/local-path",
                            f"--helper-image={helper.ref}",
                            "--configmap-name=local-path-config",
                        ],
                        "env": [
                            {
                                "name": "POD_NAMESPACE",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                            }
                        ],
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/config"}],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": "local-path-config"}}],
            },
        ),
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "rancher.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
            "allowVolumeExpansion": True,
        },
    ]


def render(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)
