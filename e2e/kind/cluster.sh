#!/usr/bin/env bash
# The kind provider of the e2e tier (machines with a Docker engine).
#
#   e2e/kind/cluster.sh up      create the cluster (e2e/kind/cluster.yaml), build and load the images,
#                               let the default StorageClass allow expansion; prints the kubeconfig path
#   e2e/kind/cluster.sh down    delete the cluster
#   e2e/kind/cluster.sh load IMAGE...   kind load docker-image into every node
#   e2e/kind/cluster.sh env     the variables `make e2e` passes to the suite
#
# KIND (default: kind on PATH), KIND_NODE_IMAGE (default: kind's own), MOCO_CACHE.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KIND=${KIND:-kind}
NAME=moco
CACHE="${MOCO_CACHE:-$HOME/.cache/moco}"
KUBECONFIG_PATH="$CACHE/e2e/kind.kubeconfig"
MYSQL_IMAGE=localhost/moco/mysql:local
SHELL_IMAGE=docker.io/library/busybox:1.36

log() { printf '[kind] %s\n' "$*" >&2; }

case "${1:-}" in
up)
    mkdir -p "$(dirname "$KUBECONFIG_PATH")"
    if ! "$KIND" get clusters 2>/dev/null | grep -qx "$NAME"; then
        log "creating cluster $NAME (1 control plane, 3 workers)"
        "$KIND" create cluster --config "$HERE/cluster.yaml" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} \
            --kubeconfig "$KUBECONFIG_PATH" --wait 180s
    fi
    "$KIND" get kubeconfig --name "$NAME" >"$KUBECONFIG_PATH"
    log "building $MYSQL_IMAGE from images/mysql/Containerfile"
    docker build -q -t "$MYSQL_IMAGE" -f "$ROOT/images/mysql/Containerfile" "$ROOT/images/mysql" >/dev/null
    docker pull -q "$SHELL_IMAGE" >/dev/null
    "$KIND" load docker-image --name "$NAME" "$MYSQL_IMAGE" "$SHELL_IMAGE"
    kubectl --kubeconfig "$KUBECONFIG_PATH" patch storageclass standard \
        -p '{"allowVolumeExpansion": true}' >/dev/null
    echo "$KUBECONFIG_PATH"
    ;;
down)
    "$KIND" delete cluster --name "$NAME"
    rm -f "$KUBECONFIG_PATH"
    ;;
load)
    shift
    "$KIND" load docker-image --name "$NAME" "$@"
    ;;
env)
    echo "KUBECONFIG=$KUBECONFIG_PATH MOCO_E2E_MYSQL_IMAGE=$MYSQL_IMAGE MOCO_E2E_SHELL_IMAGE=$SHELL_IMAGE MOCO_E2E_PULL_POLICY=IfNotPresent"
    ;;
*)
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
