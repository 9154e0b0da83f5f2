"""The network guard: pod traffic never leaves through the machine's uplink.

Hard rule of the ground: traffic goes only to loopback and to the network namespaces the harness
created. Three independent layers enforce it, all set up before the first container starts:

1. *No route out.* A node namespace has routes only to the node network (the host bridge) and to
   the pod ranges; it has no default route, so a packet to any other address has nowhere to go.
   The host keeps ``ip_forward`` as it found it and routes only the pod and service ranges
   towards node 0.
2. *Node table* ``inet moco_guard`` in every node namespace: at prerouting (after the service
   DNAT of kube-proxy, so a ClusterIP has already become a pod or apiserver address) and at
   output, any packet from a pod or a node process whose destination is neither the node network
   nor a pod range is counted and dropped; IPv6 is dropped outright. CoreDNS forwards nothing.
3. *Host table* ``inet <cluster>_local_guard``: whatever arrives from the host bridge for a
   destination outside those ranges is counted and dropped, nothing from the bridge is ever
   forwarded to another interface, and no packet with a node or pod source address leaves by
   any interface but the bridge (the counter of that last rule is the "nothing went out" check).

nftables tables are separate from kube-proxy's iptables rules: kube-proxy can neither reorder nor
flush them, and a drop in any base chain of a hook is final. :func:`remove_host` deletes the host
table; node tables go with their namespace.
"""

from __future__ import annotations

import json
import re
import subprocess

from e2e.local.spec import ClusterSpec, NodeSpec

NODE_TABLE = "moco_guard"
#: Comment on the rule whose counter shows pod traffic dropped on its way out.
POD_EGRESS = "moco-guard pod egress"
#: Comment on the host rule that counts (and drops) cluster-sourced packets leaving by any other
#: interface than the bridge: it must stay at zero.
HOST_UPLINK = "moco-guard host uplink"
#: Set of the outside addresses that pods or node processes tried to reach (for diagnosis).
DROPPED_SET = "dropped_destinations"


def _allowed(spec: ClusterSpec) -> str:
    return "{ " + ", ".join(spec.allowed_ranges) + " }"


def node_ruleset(spec: ClusterSpec, node: NodeSpec) -> str:
    """The nft script installed in a node's namespace (pure)."""
    allowed = _allowed(spec)
    record = f"add @{DROPPED_SET} {{ ip daddr }}"
    return f"""
table inet {NODE_TABLE} {{
    set {DROPPED_SET} {{
        type ipv4_addr; flags dynamic; size 4096;
    }}
    chain prerouting {{
        type filter hook prerouting priority -90; policy accept;
        ip saddr {spec.pod_net} ip daddr != {allowed} {record} counter drop comment "{POD_EGRESS}"
        meta nfproto ipv6 counter drop comment "moco-guard ipv6"
    }}
    chain output {{
        type filter hook output priority -90; policy accept;
        oifname "lo" accept
        ip daddr != {allowed} {record} counter drop comment "moco-guard node egress"
        meta nfproto ipv6 counter drop comment "moco-guard node ipv6"
    }}
    chain postrouting {{
        type filter hook postrouting priority 200; policy accept;
        oifname "{node.veth_node}" ip daddr != {allowed} counter drop comment "moco-guard uplink"
    }}
}}
"""


def host_ruleset(spec: ClusterSpec) -> str:
    """The nft script installed in the host's namespace (pure)."""
    allowed = _allowed(spec)
    br = spec.host_bridge
    return f"""
table inet {spec.host_guard_table} {{
    chain prerouting {{
        type filter hook prerouting priority -300; policy accept;
        iifname "{br}" ip daddr != {allowed} counter drop comment "moco-guard from nodes"
        iifname "{br}" meta nfproto ipv6 counter drop comment "moco-guard ipv6 from nodes"
    }}
    chain forward {{
        type filter hook forward priority -300; policy accept;
        iifname "{br}" oifname != "{br}" counter drop comment "moco-guard no forwarding out"
    }}
    chain postrouting {{
        type filter hook postrouting priority 300; policy accept;
        oifname != {{ "{br}", "lo" }} ip saddr {allowed} counter drop comment "{HOST_UPLINK}"
    }}
}}
"""


def _nft(script: str, netns: str | None = None) -> None:
    argv = ["nft", "-f", "-"]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    subprocess.run(argv, input=script, text=True, check=True, timeout=30)


def install_node(spec: ClusterSpec, node: NodeSpec) -> None:
    _nft(f"table inet {NODE_TABLE}\ndelete table inet {NODE_TABLE}\n" + node_ruleset(spec, node), node.netns)


def install_host(spec: ClusterSpec) -> None:
    t = spec.host_guard_table
    _nft(f"table inet {t}\ndelete table inet {t}\n" + host_ruleset(spec))


def remove_host(spec: ClusterSpec) -> None:
    subprocess.run(
        ["nft", "delete", "table", "inet", spec.host_guard_table],
        check=False,
        timeout=30,
        capture_output=True,
    )


def host_table_present(spec: ClusterSpec) -> bool:
    out = subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return f"table inet {spec.host_guard_table}" in out.splitlines()


def dropped_destinations(netns: str) -> set[str]:
    """Outside addresses the guard of a node dropped packets to, since the node started."""
    argv = ["ip", "netns", "exec", netns, "nft", "-j", "list", "set", "inet", NODE_TABLE, DROPPED_SET]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    found: set[str] = set()
    for item in json.loads(out)["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            found.add(elem if isinstance(elem, str) else str(elem.get("elem", {}).get("val", elem)))
    return found


def counters(netns: str | None, table: str) -> dict[str, int]:
    """Packet counters of the commented rules of ``table``: comment -> packets."""
    argv = ["nft", "list", "table", "inet", table]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    result: dict[str, int] = {}
    for m in re.finditer(r'counter packets (\d+) bytes \d+ drop comment "([^"]+)"', out):
        result[m.group(2)] = int(m.group(1))
    return result
