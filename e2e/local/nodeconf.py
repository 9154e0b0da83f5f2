"""Configuration files of a node: CNI, containerd, kubelet, kube-proxy (rendering only).

What this machine needs is written here and checked by ``test_render.py``: cgroup v1 with the
cgroupfs driver (``failCgroupV1: false``), ``restrict_oom_score_adj`` (no CAP_SYS_RESOURCE), runc
state under the node's own directory, no host resolver for pods (``resolvConf: ""``), no image
garbage collection (images cannot be pulled again), no IP masquerade in the CNI bridge, and
conntrack sizes left to the host.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from e2e.local.spec import ClusterSpec, NodeSpec


def write_cni(node: NodeSpec) -> None:
    node.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    conf = {
        "cniVersion": "0.4.0",
        "name": "moco-local",
        "plugins": [
            {
                "type": "bridge",
                "bridge": node.cni_bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr, "gateway": node.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node.cni_data_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (node.cni_conf_dir / "10-moco-local.conflist").write_text(json.dumps(conf, indent=1))


def write_containerd_config(node: NodeSpec, pause_ref: str) -> Path:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    text = f"""version = 2
root = "{node.containerd_root}"
state = "{node.containerd_state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{node.containerd_socket}"

[ttrpc]
  address = "{node.containerd_state}/containerd.ttrpc.sock"

[{cri}]
  sandbox_image = "{pause_ref}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  enable_cdi = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "{node.containerd_state}/runc"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{node.cni_conf_dir}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{node.containerd_root}/opt"
"""
    path = node.dir / "containerd.toml"
    path.write_text(text)
    return path


def write_kubelet_config(spec: ClusterSpec, node: NodeSpec) -> Path:
    pki = spec.pki_dir
    cfg = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.cgroup_root,
        "address": node.ip,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / f"kubelet-serving-{node.name}.crt"),
        "tlsPrivateKeyFile": str(pki / f"kubelet-serving-{node.name}.key"),
        "clusterDomain": spec.cluster_domain,
        "clusterDNS": [spec.dns_service_ip],
        "resolvConf": "",
        "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
        "podLogsDir": str(node.dir / "pod-logs"),
        "failSwapOn": False,
        "podCIDR": node.pod_cidr,
        "maxPods": 110,
        "serializeImagePulls": False,
        # Images cannot be pulled again here: never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "shutdownGracePeriod": "0s",
        "logging": {"verbosity": 0},
    }
    path = node.dir / "kubelet.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def write_kube_proxy_config(spec: ClusterSpec, node: NodeSpec) -> Path:
    cfg = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(spec.component_kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "clusterCIDR": str(spec.pod_net),
        "hostnameOverride": node.name,
        "bindAddress": node.ip,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # conntrack table sizes are not per namespace: leave the host's as they are.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "logging": {"verbosity": 0},
    }
    path = node.dir / "kube-proxy.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
