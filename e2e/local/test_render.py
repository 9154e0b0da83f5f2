"""The local provider's generated configuration, checked without starting anything: the guard
rulesets are valid nftables, the containerd/kubelet/kube-proxy settings carry what this machine
needs, and the addresses of a multi-node spec never overlap."""

from __future__ import annotations

import ipaddress
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from e2e.local import netguard, nodeconf
from e2e.local.spec import ClusterSpec


@pytest.fixture(params=[1, 3], ids=["1-node", "3-nodes"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> ClusterSpec:
    return ClusterSpec(nodes=request.param, data_root=tmp_path / "data", run_root=tmp_path / "run")


def _nft_check(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True, timeout=30, check=False
    )


def test_guard_rulesets_are_valid_nftables(spec: ClusterSpec) -> None:
    r = _nft_check(netguard.host_ruleset(spec))
    assert r.returncode == 0, r.stderr
    for n in spec.node_specs:
        r = _nft_check(netguard.node_ruleset(spec, n))
        assert r.returncode == 0, r.stderr


def test_node_guard_drops_everything_outside_the_cluster_ranges(spec: ClusterSpec) -> None:
    rules = netguard.node_ruleset(spec, spec.node_specs[0])
    allowed = "{ " + ", ".join(spec.allowed_ranges) + " }"
    assert f"ip saddr {spec.pod_net} ip daddr != {allowed}" in rules
    assert rules.count("drop") >= 4
    assert "accept;" in rules  # base chains let the rest through: kube-proxy decides about it
    assert str(spec.service_net) not in spec.allowed_ranges


def test_addresses_and_names_do_not_collide(spec: ClusterSpec) -> None:
    nodes = spec.node_specs
    assert len({n.ip for n in nodes}) == len(nodes)
    assert len({n.pod_cidr for n in nodes}) == len(nodes)
    for n in nodes:
        assert ipaddress.ip_address(n.ip) in spec.node_net
        assert ipaddress.IPv4Network(n.pod_cidr).subnet_of(spec.pod_net)
        assert n.ip != spec.host_ip
        for ifname in (n.veth_host, n.veth_node, n.cni_bridge, spec.host_bridge):
            assert len(ifname) <= 15
    assert not spec.service_net.overlaps(spec.pod_net)
    assert not spec.service_net.overlaps(spec.node_net)


def test_containerd_config(spec: ClusterSpec) -> None:
    n = spec.node_specs[-1]
    n.dir.mkdir(parents=True)
    cfg = tomllib.loads(nodeconf.write_containerd_config(n, "localhost/moco/pause:x").read_text())
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == "localhost/moco/pause:x"
    assert cri["cni"]["conf_dir"] == str(n.cni_conf_dir)
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    assert runc["SystemdCgroup"] is False
    assert runc["Root"].startswith(str(spec.run_root))
    assert cfg["grpc"]["address"] == str(n.containerd_socket)


def test_kubelet_and_kube_proxy_config(spec: ClusterSpec) -> None:
    n = spec.node_specs[-1]
    n.dir.mkdir(parents=True)
    kubelet = yaml.safe_load(nodeconf.write_kubelet_config(spec, n).read_text())
    assert kubelet["failCgroupV1"] is False
    assert kubelet["cgroupDriver"] == "cgroupfs"
    assert kubelet["cgroupRoot"] == n.cgroup_root
    assert kubelet["clusterDNS"] == [spec.dns_service_ip]
    assert kubelet["resolvConf"] == ""  # no host resolver ever reaches a pod
    proxy = yaml.safe_load(nodeconf.write_kube_proxy_config(spec, n).read_text())
    assert proxy["mode"] == "iptables"
    assert proxy["clusterCIDR"] == str(spec.pod_net)


def test_nodes_have_one_rack_each(spec: ClusterSpec) -> None:
    zones = [n.labels["topology.kubernetes.io/zone"] for n in spec.node_specs]
    assert zones == ["rack-a", "rack-b", "rack-c"][: spec.nodes]
    assert len({n.name for n in spec.node_specs}) == spec.nodes  # kubernetes.io/hostname


def test_kind_workers_carry_the_same_racks() -> None:
    kind = yaml.safe_load((Path(__file__).parent.parent / "kind" / "cluster.yaml").read_text())
    workers = [n for n in kind["nodes"] if n["role"] == "worker"]
    local = ClusterSpec(nodes=len(workers)).node_specs
    assert [w.get("labels") for w in workers] == [n.labels for n in local]
