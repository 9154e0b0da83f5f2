"""A network namespace of the ground's own whose addresses the host reaches: test servers that
need an address outside ``127.0.0.0/8``.

Why: the apiserver refuses a loopback address in an EndpointSlice, so Pods made by a benchmark,
whose IPs lead to test mysqld, must carry other addresses (the primary Service's EndpointSlice is
moco's own, :mod:`moco.controllers.primaryslice`).

Rules:

1. **Addresses that lead nowhere else.** The namespace's addresses are in ``198.18.0.0/15``
   (RFC 2544: set aside for benchmarks, never routed on the Internet), one ``/24`` per
   namespace: the host side of a veth pair holds ``.1``, the namespace side the others.
2. **Nothing leaves the host.** The namespace has no default route, only the ``/24`` of its
   veth: a process in it reaches the host side and nothing else (GROUND.md's network rule:
   traffic only to loopback and to namespaces the project made). Nothing is forwarded, no rule
   is added to the host's firewall.
3. **Recorded, removed.** The namespace is recorded in the ground's registry as soon as it
   exists, so ``make clean-ground`` deletes it (and with it the veth pair) if the process that
   made it dies; :meth:`HostNet.close` deletes it and forgets it (only recorded namespaces are
   ever deleted).
4. **A process is put in it by exec.** :meth:`HostNet.enter` is a command prefix
   (``nsenter --net=...``) that joins the namespace and execs the command: the PID the ground
   records is the server's own.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Final

from moco.testing import ground
from moco.testing.ground import ip_command

#: Rule 1.
NETWORK: Final = ipaddress.ip_network("198.18.0.0/15")
#: Names of the namespaces made here (followed by the number of their /24).
PREFIX: Final = "moco-ground-"


def _taken(subnet: int, host_addresses: str) -> bool:
    """True when ``host_addresses`` (``ip -o -4 addr show``) has one in the ``/24`` number
    ``subnet`` of NETWORK (pure)."""
    prefix = str(NETWORK.network_address + subnet * 256).rsplit(".", 1)[0] + "."
    return f" {prefix}" in host_addresses


@dataclass(frozen=True)
class HostNet:
    """A namespace made by :func:`create`: ``ips`` in it, ``host_ip`` on the host side."""

    name: str
    host_ip: str
    ips: tuple[str, ...]

    @property
    def enter(self) -> tuple[str, ...]:
        """The command prefix that runs a program in the namespace (rule 4)."""
        return ("nsenter", f"--net=/run/netns/{self.name}", "--")

    def close(self) -> None:
        """Delete the namespace (its processes must have ended) and the veth pair with it."""
        ground.delete_netns(self.name)


def create(count: int) -> HostNet:
    """A namespace with ``count`` addresses reachable from the host (rules 1-3)."""
    if not 1 <= count <= 250:
        raise ValueError(f"count: {count} addresses do not fit one /24 beside the host side")
    host_addresses = ip_command("-o", "-4", "addr", "show")
    start = os.getpid() % 500
    for k in range(512):
        subnet = (start + k) % 512
        name = f"{PREFIX}{subnet}"
        if not os.path.exists(f"/run/netns/{name}") and not _taken(subnet, host_addresses):
            break
    else:
        raise RuntimeError(f"every /24 of {NETWORK} is in use on this host")
    base = NETWORK.network_address + subnet * 256
    host_ip, ips = str(base + 1), tuple(str(base + 2 + i) for i in range(count))
    host_if, ns_if = f"mgh{subnet}", f"mgn{subnet}"
    ip_command("netns", "add", name)
    ground.record_netns(name, links=[host_if])
    try:
        ip_command("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", name)
        ip_command("addr", "add", f"{host_ip}/24", "dev", host_if)
        ip_command("link", "set", host_if, "up")
        for ip in ips:
            ip_command("-n", name, "addr", "add", f"{ip}/24", "dev", ns_if)
        ip_command("-n", name, "link", "set", ns_if, "up")
        ip_command("-n", name, "link", "set", "lo", "up")
    except BaseException:
        ground.delete_netns(name)
        raise
    return HostNet(name, host_ip, ips)


__all__ = ["NETWORK", "PREFIX", "HostNet", "create"]
