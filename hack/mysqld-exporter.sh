#!/usr/bin/env bash
# Install (once) Prometheus' mysqld_exporter, the program of the mysqld-exporter sidecar that moco
# adds to a Pod when a MySQLCluster sets `collectors`, built from its Go module
# (github.com/prometheus/mysqld_exporter) into ${MOCO_CACHE:-$HOME/.cache/moco}/mysqld-exporter/.
#
#   hack/mysqld-exporter.sh            build it unless the pinned version is there
#   hack/mysqld-exporter.sh --print    print mysqld_exporter=<path> (the binary; its name ends with the version)
#
# Version: v0.19.0 reads MySQL 9.x's SHOW REPLICA STATUS and the 8.4/9.x variable names (older ones,
# such as Debian bookworm's 0.14, fail on the replica status of 9.x). The binary is static
# (CGO_ENABLED=0), stripped, and carries its version (`mysqld_exporter --version`); the module stays
# in Go's module cache, so a rebuild after a cache wipe does not download again. About a minute
# on 2 cores the first time.
set -euo pipefail

VERSION=v0.19.0
MODULE=github.com/prometheus/mysqld_exporter

CACHE="${MOCO_CACHE:-$HOME/.cache/moco}"
BIN="$CACHE/mysqld-exporter/bin"
OUT="$BIN/mysqld_exporter-$VERSION"

log() { printf '[mysqld-exporter] %s\n' "$*" >&2; }

if [[ "${1:-}" == "--print" ]]; then
    printf 'mysqld_exporter=%s\n' "$OUT"
    exit 0
fi

if [[ -x "$OUT" ]]; then
    log "mysqld_exporter $VERSION present: $OUT"
    exit 0
fi

command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
mkdir -p "$BIN"
log "building mysqld_exporter $VERSION from its Go module..."
t0=$SECONDS
gobin=$(mktemp -d "$BIN/.gobin.XXXXXX")
trap 'rm -rf "$gobin"' EXIT
ver=${VERSION#v}
# `go install MODULE@VERSION` asks the proxy for the module's version list (for deprecations),
# which the proxy may refuse; downloading the one version and building inside it needs only that.
moddir=$(cd "$gobin" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
[[ -d "$moddir" ]] || { log "error: no source directory for $MODULE@$VERSION"; exit 1; }
(cd "$moddir" && CGO_ENABLED=0 nice -n 10 go build -trimpath -o "$gobin/mysqld_exporter" \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$ver -X github.com/prometheus/common/version.Branch=HEAD" .)
"$gobin/mysqld_exporter" --version >/dev/null 2>&1 || { log "error: the built binary does not run"; exit 1; }
mv -f "$gobin/mysqld_exporter" "$OUT"
log "built mysqld_exporter in $((SECONDS - t0))s ($(du -m "$OUT" | cut -f1) MB) -> $OUT"
