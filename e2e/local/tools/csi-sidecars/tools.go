//go:build tools

// The CSI sidecars the local cluster's csi-loop driver runs beside: external-provisioner
// (creates and deletes volumes for claims) and external-resizer (grows them when a claim asks
// for more), pinned here so that one go.sum covers both; built by e2e/local/csi-tools.sh.
// node-driver-registrar is not among them: the Go module proxy refuses that module, and
// csi-loop registers itself with the kubelet.
package tools

import (
	_ "github.com/kubernetes-csi/external-provisioner/v5/cmd/csi-provisioner"
	_ "github.com/kubernetes-csi/external-resizer/cmd/csi-resizer"
)
