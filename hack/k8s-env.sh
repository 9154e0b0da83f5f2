#!/usr/bin/env bash
# Where hack/k8s-build.sh and hack/etcd.sh put their binaries.
#
#   eval "$(bash hack/k8s-env.sh)"   prints the exports (run from anywhere)
#   source hack/k8s-env.sh           sets them in the current shell
#
# MOCO_K8S_VERSION  Kubernetes version (from hack/k8s-build.sh)
# MOCO_K8S_BIN      directory of kube-apiserver, kube-controller-manager, ...
# MOCO_ETCD_BIN     directory of etcd, etcdctl (through the etcd/current symlink)

_moco_k8s_env() {
    local here cache version
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    cache="${MOCO_CACHE:-$HOME/.cache/moco}"
    version=$(sed -n 's/^K8S_VERSION=//p' "$here/k8s-build.sh")
    printf 'export MOCO_K8S_VERSION=%q\n' "$version"
    printf 'export MOCO_K8S_BIN=%q\n' "$cache/k8s/$version/bin"
    printf 'export MOCO_ETCD_BIN=%q\n' "$cache/etcd/current/bin"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    eval "$(_moco_k8s_env)"
    unset -f _moco_k8s_env
else
    set -euo pipefail
    _moco_k8s_env
fi
