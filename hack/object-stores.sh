#!/usr/bin/env bash
# Install (once) the three object-store servers the backup tests run against, outside the repo:
#   versitygw        S3 gateway (posix backend), Go module github.com/versity/versitygw
#   fake-gcs-server  GCS emulator, Go module github.com/fsouza/fake-gcs-server, built with
#                    tools/fake-gcs-server/xmlupload.go (the XML API uploads obstore sends)
#   azurite          Azure Blob emulator, npm package, run by this machine's node
# into ${MOCO_CACHE:-$HOME/.cache/moco}/object-stores/, skipping what exists at the pinned version.
#
#   hack/object-stores.sh            install the missing ones
#   hack/object-stores.sh --print    print name=path of each (the program to run)
#
# The Go binaries are built static (CGO_ENABLED=0) and stripped (-trimpath -ldflags "-s -w"); the
# modules stay in Go's module cache, so a rebuild after a cache wipe does not download again.
set -euo pipefail

VERSITYGW_VERSION=v1.8.0
FAKE_GCS_VERSION=v1.56.1
AZURITE_VERSION=3.37.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="${MOCO_CACHE:-$HOME/.cache/moco}"
XML_UPLOAD="$ROOT/tools/fake-gcs-server/xmlupload.go"
XML_UPLOAD_SUM=$(sha256sum "$XML_UPLOAD" | cut -c1-8)
DIR="$CACHE/object-stores"
BIN="$DIR/bin"
VERSITYGW="$BIN/versitygw-$VERSITYGW_VERSION"
FAKE_GCS="$BIN/fake-gcs-server-$FAKE_GCS_VERSION-xml$XML_UPLOAD_SUM"
AZURITE_DIR="$DIR/azurite-$AZURITE_VERSION"
AZURITE="$AZURITE_DIR/node_modules/azurite/dist/src/blob/main.js"

log() { printf '[object-stores] %s\n' "$*" >&2; }

if [[ "${1:-}" == "--print" ]]; then
    printf 'versitygw=%s\nfake-gcs-server=%s\nazurite=%s\n' "$VERSITYGW" "$FAKE_GCS" "$AZURITE"
    exit 0
fi

mkdir -p "$BIN"

go_build() { # name version package output
    local name=$1 version=$2 pkg=$3 out=$4
    if [[ -x "$out" ]]; then
        log "$name $version present: $out"
        return
    fi
    command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
    log "building $name $version (the first time: a few minutes on 2 cores)..."
    local t0=$SECONDS gobin
    gobin=$(mktemp -d "$BIN/.gobin.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$gobin'" RETURN
    CGO_ENABLED=0 GOBIN="$gobin" nice -n 10 go install -trimpath -ldflags "-s -w" "$pkg@$version"
    mv -f "$gobin/$(basename "${pkg}")" "$out"
    log "built $name in $((SECONDS - t0))s ($(du -m "$out" | cut -f1) MB) -> $out"
}

go_build versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw "$VERSITYGW"

# fake-gcs-server: its module's source (from the module cache) plus our XML upload handlers
if [[ -x "$FAKE_GCS" ]]; then
    log "fake-gcs-server $FAKE_GCS_VERSION present: $FAKE_GCS"
else
    command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
    log "building fake-gcs-server $FAKE_GCS_VERSION with the XML API uploads..."
    t0=$SECONDS
    moddir=$(cd "$BIN" && GOFLAGS=-mod=mod go mod download -json "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
    [[ -d "$moddir" ]] || { log "error: no source directory for fake-gcs-server@$FAKE_GCS_VERSION"; exit 1; }
    src=$(mktemp -d "$BIN/.src.XXXXXX")
    trap 'rm -rf "$src"' EXIT
    cp -r "$moddir/." "$src/"
    chmod -R u+w "$src"
    cp "$XML_UPLOAD" "$src/fakestorage/xmlupload.go"
    sed -i 's|^\t// Batch endpoint$|\ts.addXMLUploadRoutes(handler)\n\n&|' "$src/fakestorage/server.go"
    grep -q 's.addXMLUploadRoutes(handler)' "$src/fakestorage/server.go" ||
        { log "error: fakestorage/server.go of $FAKE_GCS_VERSION has no '// Batch endpoint' line to hook into"; exit 1; }
    (cd "$src" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$FAKE_GCS.tmp" .)
    mv -f "$FAKE_GCS.tmp" "$FAKE_GCS"
    rm -rf "$src"
    log "built fake-gcs-server in $((SECONDS - t0))s ($(du -m "$FAKE_GCS" | cut -f1) MB) -> $FAKE_GCS"
fi

if [[ -f "$AZURITE_DIR/.done" && -f "$AZURITE" ]]; then
    log "azurite $AZURITE_VERSION present: $AZURITE"
else
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
        { log "error: node and npm are needed for azurite (Debian: apt-get install nodejs npm)"; exit 1; }
    log "installing azurite $AZURITE_VERSION with npm (node $(node --version))..."
    t0=$SECONDS
    rm -rf "$AZURITE_DIR.tmp"
    mkdir -p "$AZURITE_DIR.tmp"
    # --engine-strict off: azurite declares node >= 22; its blob server runs on Debian's node 20
    # (verified by the object-store tests, which start it and round-trip blobs).
    (cd "$AZURITE_DIR.tmp" && printf '{"private":true}\n' >package.json &&
        npm install --no-audit --no-fund --omit=dev --loglevel=error "azurite@$AZURITE_VERSION" >&2)
    rm -rf "$AZURITE_DIR"
    mv "$AZURITE_DIR.tmp" "$AZURITE_DIR"
    touch "$AZURITE_DIR/.done"
    log "installed azurite in $((SECONDS - t0))s ($(du -sm "$AZURITE_DIR" | cut -f1) MB) -> $AZURITE_DIR"
fi
