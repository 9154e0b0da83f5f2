#!/usr/bin/env bash
# Debian packages a local cluster node needs (from bookworm), installed once:
# containerd + runc (the runtime), the CNI plugins (bridge, host-local, portmap), nftables (the
# network guard), iptables + conntrack (kube-proxy), busybox-static (the busybox image), gcc
# (the pause image), curl (health checks inside node namespaces), xfsprogs (the volumes of the
# expandable StorageClass, e2e/local/csi.py).
set -euo pipefail
pkgs=(containerd runc containernetworking-plugins nftables iptables conntrack busybox-static gcc libc6-dev curl util-linux iproute2 xfsprogs)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "[node-deps] installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
