"""The shape of a local cluster: names, addresses, ports and directories, with no I/O.

Every name on the machine (namespaces, links, nft tables, cgroups, directories) derives from the
cluster's name, and every address and port is a field: two clusters with different names,
ranges and ports coexist (the harness's own life-cycle test runs a second one).

A cluster is a control plane on the host (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, all on the host bridge address or loopback) plus one or more *nodes*. A node is a
parameterised unit: its own network namespace joined to the host bridge by a veth pair, its own
containerd (root, state, socket), kubelet (root dir, cgroup root) and kube-proxy, its own pod
range. Node ``i`` gets ``NODE_NET.(10+i)`` and the ``i``-th /24 of the pod range; nothing else
changes between nodes, so running three nodes is a matter of ``ClusterSpec(nodes=3)``.

Invariants:
- every address the cluster uses lies in :attr:`ClusterSpec.allowed_ranges` (node network, pod
  ranges) or the service range, which is only ever a DNAT target inside node namespaces;
- no name here collides with what the apiserver test ground uses (other ports, other dirs).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path


def cache_dir() -> Path:
    """``$MOCO_CACHE`` (built binaries, image tars)."""
    return Path(os.environ.get("MOCO_CACHE", str(Path.home() / ".cache" / "moco")))


K8S_VERSION = "v1.35.4"


@dataclass(frozen=True)
class NodeSpec:
    """One node: a network namespace with containerd, kubelet and kube-proxy."""

    index: int
    cluster_name: str
    data_root: Path
    run_root: Path
    node_net: ipaddress.IPv4Network
    pod_net: ipaddress.IPv4Network

    @property
    def name(self) -> str:
        return f"{self.cluster_name}-node{self.index}"

    @property
    def netns(self) -> str:
        return self.name

    @property
    def zone(self) -> str:
        """``topology.kubernetes.io/zone`` of the node: ``rack-a``, ``rack-b``, ... (one rack per
        node, so MOCO's anti-affinity and topology-spread examples put one instance per node)."""
        return f"rack-{chr(ord('a') + self.index)}"

    @property
    def labels(self) -> dict[str, str]:
        """Labels the kubelet gives its Node (``kubernetes.io/hostname`` is the node's name)."""
        return {"topology.kubernetes.io/zone": self.zone}

    @property
    def ip(self) -> str:
        return str(self.node_net.network_address + 10 + self.index)

    @property
    def pod_cidr(self) -> str:
        """The ``index``-th /24 of the cluster's pod range."""
        return str(list(self.pod_net.subnets(new_prefix=24))[self.index])

    @property
    def pod_gateway(self) -> str:
        return str(ipaddress.IPv4Network(self.pod_cidr).network_address + 1)

    @property
    def veth_host(self) -> str:
        """Host end of the node's veth pair (attached to the host bridge)."""
        return f"{self.cluster_name[:8]}v{self.index}h"

    @property
    def veth_node(self) -> str:
        """Node end of the veth pair, inside the node's namespace."""
        return "uplink0"

    @property
    def cni_bridge(self) -> str:
        return "cni0"

    @property
    def dir(self) -> Path:
        return self.data_root / self.name

    @property
    def containerd_root(self) -> Path:
        """Kept across restarts: holds the imported images."""
        return self.data_root / "images" / self.name / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.run_root / self.name / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_state / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.dir / "kubelet"

    @property
    def cni_conf_dir(self) -> Path:
        return self.dir / "cni" / "net.d"

    @property
    def cni_data_dir(self) -> Path:
        return self.dir / "cni" / "networks"

    @property
    def cgroup_root(self) -> str:
        return f"/{self.name}"

    @property
    def local_path_dir(self) -> Path:
        """Where the local-path provisioner creates volumes on this node."""
        return self.dir / "local-path"


@dataclass(frozen=True)
class ClusterSpec:
    """A local cluster: control plane on the host, ``nodes`` node units."""

    name: str = "moco"
    nodes: int = 1
    data_root: Path = Path("/var/lib/moco-local")
    run_root: Path = Path("/run/moco-local")
    node_net: ipaddress.IPv4Network = field(default=ipaddress.IPv4Network("10.250.0.0/24"))
    pod_net: ipaddress.IPv4Network = field(default=ipaddress.IPv4Network("10.244.0.0/16"))
    service_net: ipaddress.IPv4Network = field(default=ipaddress.IPv4Network("10.96.0.0/16"))
    etcd_client_port: int = 12379
    etcd_peer_port: int = 12380
    apiserver_port: int = 6443
    controller_manager_port: int = 20257
    scheduler_port: int = 20259
    #: Whether ``up`` loads the MySQL image (a throw-away cluster for harness tests does not need it).
    with_mysql_image: bool = True

    @property
    def host_guard_table(self) -> str:
        return f"{self.name}_local_guard"

    @property
    def host_bridge(self) -> str:
        return f"{self.name}-br0"

    @property
    def host_ip(self) -> str:
        """The host's address on the node network: where the apiserver listens."""
        return str(self.node_net.network_address + 1)

    @property
    def apiserver_url(self) -> str:
        return f"https://{self.host_ip}:{self.apiserver_port}"

    @property
    def kubernetes_service_ip(self) -> str:
        return str(self.service_net.network_address + 1)

    @property
    def dns_service_ip(self) -> str:
        return str(self.service_net.network_address + 10)

    @property
    def cluster_domain(self) -> str:
        return "cluster.local"

    @property
    def node_specs(self) -> tuple[NodeSpec, ...]:
        return tuple(
            NodeSpec(i, self.name, self.data_root, self.run_root, self.node_net, self.pod_net)
            for i in range(self.nodes)
        )

    @property
    def allowed_ranges(self) -> tuple[str, ...]:
        """Destinations pod traffic may reach (after service DNAT): node network and pod ranges."""
        return (str(self.node_net), str(self.pod_net))

    # --- files on the host -----------------------------------------------------------------
    @property
    def pki_dir(self) -> Path:
        return self.data_root / "pki"

    @property
    def etcd_dir(self) -> Path:
        return self.data_root / "etcd"

    @property
    def log_dir(self) -> Path:
        return self.data_root / "logs"

    @property
    def state_file(self) -> Path:
        """What ``up`` started (PIDs with start times), read by ``down``."""
        return self.data_root / "state.json"

    @property
    def nodes_file(self) -> Path:
        """How many nodes the running cluster has (written by ``up``, read by ``down``)."""
        return self.data_root / "nodes"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig printed by ``make cluster``."""
        return self.data_root / "admin.kubeconfig"

    def component_kubeconfig(self, component: str) -> Path:
        return self.data_root / "kubeconfigs" / f"{component}.kubeconfig"


def current(default_nodes: int = 1) -> ClusterSpec:
    """The spec of the cluster that is up (its node count is recorded by ``up``), else the default."""
    base = ClusterSpec()
    try:
        return ClusterSpec(nodes=int(base.nodes_file.read_text()))
    except (OSError, ValueError):
        return ClusterSpec(nodes=default_nodes)


def k8s_bin(name: str) -> Path:
    return cache_dir() / "k8s" / K8S_VERSION / "bin" / name


def etcd_bin() -> Path:
    return cache_dir() / "etcd" / "current" / "bin" / "etcd"
