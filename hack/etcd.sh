#!/usr/bin/env bash
# Fetch etcd (etcd, etcdctl, etcdutl) from Debian sid's etcd-server and
# etcd-client .debs without touching the system's apt configuration, and
# install them into ${MOCO_CACHE:-$HOME/.cache/moco}/etcd/<version>/bin, with
# the stable symlink ${MOCO_CACHE:-$HOME/.cache/moco}/etcd/current -> <version>.
#
#   hack/etcd.sh            fetch unless etcd/current/bin/etcd already exists
#   ETCD_FORCE=1 hack/etcd.sh   fetch again (e.g. to pick up a newer sid upload)
#
# DEBIAN_MIRROR overrides the mirror (default http://deb.debian.org/debian).
set -euo pipefail

DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=sid

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE="${MOCO_CACHE:-$HOME/.cache/moco}"
ETCD_DIR="$CACHE/etcd"

log() { printf '[etcd] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -z "${ETCD_FORCE:-}" && -x "$ETCD_DIR/current/bin/etcd" ]]; then
    log "present: $(readlink -f "$ETCD_DIR/current")/bin/etcd (set ETCD_FORCE=1 to refetch)"
    exit 0
fi

for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (this script needs a Debian system)"
done

mkdir -p "$ETCD_DIR"
work=$(mktemp -d "$ETCD_DIR/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
echo "deb $DEBIAN_MIRROR $SUITE main" >"$work/sources.list"

# Private sources list, lists and cache: the system's apt state is only read
# (dpkg status, trusted keys), never written.
APT_OPTS=(
    -o "Dir::Etc::sourcelist=$work/sources.list"
    -o "Dir::Etc::sourceparts=/dev/null"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache"
    -o "Acquire::Check-Valid-Until=false"
    -o "APT::Sandbox::User=root"
)

log "apt-get update with private sources list: deb $DEBIAN_MIRROR $SUITE main"
t0=$SECONDS
apt-get -q "${APT_OPTS[@]}" update >"$work/update.log" 2>&1 || {
    cat "$work/update.log" >&2
    die "apt-get update failed"
}
log "index fetched in $((SECONDS - t0))s"

log "apt-get download etcd-server etcd-client"
(cd "$work/debs" && apt-get -q "${APT_OPTS[@]}" download etcd-server etcd-client >&2)

server_deb=$(ls "$work"/debs/etcd-server_*.deb)
client_deb=$(ls "$work"/debs/etcd-client_*.deb 2>/dev/null || true)
deb_version=$(dpkg-deb -f "$server_deb" Version)
# 3.5.30-1+b2 -> 3.5.30 (upstream version, without epoch and Debian revision)
version=${deb_version#*:}
version=${version%%-*}
log "etcd-server $deb_version ($(basename "$server_deb"))"

log "dpkg -x into a scratch root"
dpkg -x "$server_deb" "$work/root"
[[ -z "$client_deb" ]] || dpkg -x "$client_deb" "$work/root"

dest="$ETCD_DIR/$version"
stage="$work/$version"
mkdir -p "$stage/bin"
install -m 0755 "$work/root/usr/bin/etcd" "$stage/bin/etcd"
for b in etcdctl etcdutl; do
    if [[ -x "$work/root/usr/bin/$b" ]]; then
        install -m 0755 "$work/root/usr/bin/$b" "$stage/bin/$b"
    fi
done
echo "$deb_version" >"$stage/DEBIAN_VERSION"
"$stage/bin/etcd" --version >&2 || die "unpacked etcd does not run on this host"

rm -rf "$dest"
mv "$stage" "$dest"
ln -sfn "$version" "$ETCD_DIR/current"
log "installed $(ls "$dest/bin" | tr '\n' ' ')into $dest/bin"
log "symlink $ETCD_DIR/current -> $version"
