#!/usr/bin/env bash
# Installs the Debian packages the test ground needs, once (skips what is installed).
# iproute2 and util-linux (nsenter): moco.testing.hostnet.
set -euo pipefail
pkgs=(debootstrap ca-certificates python3-venv time procps iproute2 iptables util-linux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
