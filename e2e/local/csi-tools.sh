#!/usr/bin/env bash
# Build (once) the programs of the local cluster's expandable storage (e2e/local/csi.py):
#   csi-loop         our CSI driver: loop-mounted XFS volumes that grow online (tools/csi-loop)
#   hostexec         static helper that runs a command in the node's mount namespace (tools/hostexec)
#   csi-provisioner  kubernetes-csi external-provisioner   (tools/csi-sidecars pins the versions)
#   csi-resizer      kubernetes-csi external-resizer
# into ${MOCO_CACHE:-$HOME/.cache/moco}/e2e/bin/<name>-<version>, skipping what exists. csi-loop
# and hostexec are versioned by a hash of their sources. The sidecars take ~10 minutes on
# 2 cores the first time.
#
#   e2e/local/csi-tools.sh            build the missing ones
#   e2e/local/csi-tools.sh --print    print name=path of each
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS="$HERE/tools"
CACHE="${MOCO_CACHE:-$HOME/.cache/moco}"
BIN="$CACHE/e2e/bin"

gomod_version() { # module path -> the version tools/csi-sidecars/go.mod requires
    awk -v m="$1" '$1 == m { print $2; exit }' "$TOOLS/csi-sidecars/go.mod"
}
src_hash() { # files -> short content hash
    cat "$@" | sha256sum | cut -c1-10
}
PROVISIONER="$BIN/csi-provisioner-$(gomod_version github.com/kubernetes-csi/external-provisioner/v5)"
RESIZER="$BIN/csi-resizer-$(gomod_version github.com/kubernetes-csi/external-resizer)"
loop_sources=("$TOOLS"/csi-loop/go.mod "$TOOLS"/csi-loop/go.sum)
for f in "$TOOLS"/csi-loop/*.go; do [[ "$f" == *_test.go ]] || loop_sources+=("$f"); done
CSI_LOOP="$BIN/csi-loop-$(src_hash "${loop_sources[@]}")"
HOSTEXEC="$BIN/hostexec-$(src_hash "$TOOLS"/hostexec/hostexec.c)"

log() { printf '[csi-tools] %s\n' "$*" >&2; }

if [[ "${1:-}" == "--print" ]]; then
    printf 'csi-loop=%s\nhostexec=%s\ncsi-provisioner=%s\ncsi-resizer=%s\n' \
        "$CSI_LOOP" "$HOSTEXEC" "$PROVISIONER" "$RESIZER"
    exit 0
fi

command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
mkdir -p "$BIN"
export CGO_ENABLED=0

go_build() { # output dir package
    local out=$1 dir=$2 pkg=$3 t0=$SECONDS
    if [[ -x "$out" ]]; then
        log "$(basename "$out") present"
        return
    fi
    log "building $(basename "$out")..."
    (cd "$dir" && nice -n 10 go build -trimpath -ldflags "-s -w" -o "$out.tmp" "$pkg")
    mv -f "$out.tmp" "$out"
    log "built $(basename "$out") in $((SECONDS - t0))s"
}

if [[ ! -x "$HOSTEXEC" ]]; then
    gcc -static -O2 -s -Wall -o "$HOSTEXEC.tmp" "$TOOLS/hostexec/hostexec.c"
    mv -f "$HOSTEXEC.tmp" "$HOSTEXEC"
    log "built $(basename "$HOSTEXEC")"
fi
go_build "$CSI_LOOP" "$TOOLS/csi-loop" .
go_build "$RESIZER" "$TOOLS/csi-sidecars" github.com/kubernetes-csi/external-resizer/cmd/csi-resizer
go_build "$PROVISIONER" "$TOOLS/csi-sidecars" github.com/kubernetes-csi/external-provisioner/v5/cmd/csi-provisioner
