#!/usr/bin/env bash
# Build (once) the Go programs the local cluster runs as Pods, from the Go module proxy:
#   coredns                 a CoreDNS with only the plugins the cluster DNS needs (e2e/local/tools/coredns)
#   local-path-provisioner  rancher's dynamic provisioner of host-path volumes (the one kind uses)
# into ${MOCO_CACHE:-$HOME/.cache/moco}/e2e/bin/<name>-<version>, skipping what exists.
#
#   e2e/local/go-tools.sh            build the missing ones
#   e2e/local/go-tools.sh --print    print the paths of the binaries
set -euo pipefail

COREDNS_VERSION=v1.14.7
LOCAL_PATH_VERSION=v0.0.30

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE="${MOCO_CACHE:-$HOME/.cache/moco}"
BIN="$CACHE/e2e/bin"
COREDNS="$BIN/coredns-$COREDNS_VERSION"
LOCAL_PATH="$BIN/local-path-provisioner-$LOCAL_PATH_VERSION"

log() { printf '[go-tools] %s\n' "$*" >&2; }

if [[ "${1:-}" == "--print" ]]; then
    printf 'coredns=%s\nlocal-path-provisioner=%s\n' "$COREDNS" "$LOCAL_PATH"
    exit 0
fi

command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
mkdir -p "$BIN"
export CGO_ENABLED=0

if [[ ! -x "$COREDNS" ]]; then
    log "building coredns $COREDNS_VERSION (1/2; a few minutes on 2 cores the first time)..."
    t0=$SECONDS
    (cd "$HERE/tools/coredns" && nice -n 10 go build -trimpath -ldflags "-s -w" -o "$COREDNS.tmp" .)
    mv -f "$COREDNS.tmp" "$COREDNS"
    log "built coredns in $((SECONDS - t0))s -> $COREDNS"
else
    log "coredns (1/2) present: $COREDNS"
fi

if [[ ! -x "$LOCAL_PATH" ]]; then
    log "building local-path-provisioner $LOCAL_PATH_VERSION (2/2)..."
    t0=$SECONDS
    gobin=$(mktemp -d "$BIN/.gobin.XXXXXX")
    trap 'rm -rf "$gobin"' EXIT
    GOBIN="$gobin" nice -n 10 go install -trimpath -ldflags "-s -w" \
        "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"
    mv -f "$gobin/local-path-provisioner" "$LOCAL_PATH"
    log "built local-path-provisioner in $((SECONDS - t0))s -> $LOCAL_PATH"
else
    log "local-path-provisioner (2/2) present: $LOCAL_PATH"
fi
