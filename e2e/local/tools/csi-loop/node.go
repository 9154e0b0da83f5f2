package main

// The node service. Everything here acts in the node's mount namespace through hostexec: the
// kubelet must see the mounts, and the node's own mount, losetup, mkfs.xfs and xfs_growfs do
// the work (the image carries only this driver and hostexec).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// commandTimeout bounds every command run on the node; mkfs.xfs of a sparse file and
// xfs_growfs take well under a second.
const commandTimeout = 60 * time.Second

// hostRunner runs programs in the mount namespace of process pid.
type hostRunner struct{ pid string }

func newHostRunner(pid int) (*hostRunner, error) {
	ours, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return nil, err
	}
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return nil, fmt.Errorf("process %d: %w (does the Pod set hostPID: true?)", pid, err)
	}
	if ours == theirs {
		return nil, fmt.Errorf("process %d shares our mount namespace: mounts made there would not reach the kubelet", pid)
	}
	return &hostRunner{pid: strconv.Itoa(pid)}, nil
}

// run returns the command's standard output, or an error carrying its exit code and output.
func (h *hostRunner) run(ctx context.Context, argv ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "hostexec", append([]string{h.pid}, argv...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil {
		return out.String(), code, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), 0, nil
}

func (h *hostRunner) mounted(ctx context.Context, path string) (bool, error) {
	_, code, err := h.run(ctx, "mountpoint", "-q", path)
	switch {
	case err == nil:
		return true, nil
	case code == 1 || code == 32:
		return false, nil // not a mount point, or not there at all
	default:
		return false, err
	}
}

type node struct {
	csi.UnimplementedNodeServer
	d *driver
}

func (n *node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.d.nodeID}, nil
}

func (n *node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{Capabilities: []*csi.NodeServiceCapability{{
		Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{
			Type: csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
		}},
	}}}, nil
}

// NodePublishVolume formats the volume on first use and loop-mounts it at the target path.
func (n *node) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if target == "" {
		return nil, errorf(codes.InvalidArgument, "target_path is required")
	}
	if err := checkCapabilities([]*csi.VolumeCapability{req.GetVolumeCapability()}); err != nil {
		return nil, err
	}
	img, err := n.d.image(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	defer n.d.lock(req.GetVolumeId())()
	h := n.d.host
	if _, _, err := h.run(ctx, "test", "-f", img); err != nil {
		return nil, errorf(codes.NotFound, "volume %s: no file %s", req.GetVolumeId(), img)
	}
	if ok, err := h.mounted(ctx, target); err != nil {
		return nil, errorf(codes.Internal, "%v", err)
	} else if ok {
		return &csi.NodePublishVolumeResponse{}, nil
	}
	// blkid exits 2 when it finds no filesystem: a new volume.
	fs, code, err := h.run(ctx, "blkid", "-p", "-s", "TYPE", "-o", "value", img)
	switch fs = strings.TrimSpace(fs); {
	case err != nil && code != 2:
		return nil, errorf(codes.Internal, "%v", err)
	case fs == "":
		if _, _, err := h.run(ctx, "mkfs.xfs", "-q", img); err != nil {
			return nil, errorf(codes.Internal, "%v", err)
		}
	case fs != "xfs":
		return nil, errorf(codes.FailedPrecondition, "volume %s holds a %s filesystem, not xfs", req.GetVolumeId(), fs)
	}
	opts := "loop"
	if req.GetReadonly() {
		opts += ",ro"
	}
	if _, _, err := h.run(ctx, "mkdir", "-p", target); err != nil {
		return nil, errorf(codes.Internal, "%v", err)
	}
	if _, _, err := h.run(ctx, "mount", "-t", "xfs", "-o", opts, img, target); err != nil {
		return nil, errorf(codes.Internal, "%v", err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// NodeUnpublishVolume unmounts (the loop device goes with it: mount set it to clear itself).
func (n *node) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if target == "" {
		return nil, errorf(codes.InvalidArgument, "target_path is required")
	}
	defer n.d.lock(req.GetVolumeId())()
	h := n.d.host
	if ok, err := h.mounted(ctx, target); err != nil {
		return nil, errorf(codes.Internal, "%v", err)
	} else if ok {
		if _, _, err := h.run(ctx, "umount", target); err != nil {
			return nil, errorf(codes.Internal, "%v", err)
		}
	}
	if _, _, err := h.run(ctx, "rm", "-df", target); err != nil {
		return nil, errorf(codes.Internal, "%v", err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// NodeExpandVolume makes the loop device re-read its file's size and grows XFS to fill it,
// online. Both steps are no-ops when already done.
func (n *node) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	path := req.GetVolumePath()
	if path == "" {
		return nil, errorf(codes.InvalidArgument, "volume_path is required")
	}
	img, err := n.d.image(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	defer n.d.lock(req.GetVolumeId())()
	h := n.d.host
	dev, _, err := h.run(ctx, "findmnt", "-n", "-o", "SOURCE", "--mountpoint", path)
	if dev = strings.TrimSpace(dev); err != nil || !strings.HasPrefix(dev, "/dev/loop") {
		return nil, errorf(codes.NotFound, "volume %s is not mounted at %s (%q, %v)", req.GetVolumeId(), path, dev, err)
	}
	if _, _, err := h.run(ctx, "losetup", "-c", dev); err != nil {
		return nil, errorf(codes.Internal, "%v", err)
	}
	if _, _, err := h.run(ctx, "xfs_growfs", "-d", path); err != nil {
		return nil, errorf(codes.Internal, "%v", err)
	}
	out, _, err := h.run(ctx, "stat", "-c", "%s", img)
	if err != nil {
		return nil, errorf(codes.Internal, "%v", err)
	}
	size, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return nil, errorf(codes.Internal, "size of %s: %v", img, err)
	}
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}
