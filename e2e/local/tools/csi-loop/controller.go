package main

// The controller service: a volume is created as a sparse file of the asked size, deleted by
// removing it, and expanded by extending it (the filesystem follows on the node).

import (
	"context"
	"errors"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

type controller struct {
	csi.UnimplementedControllerServer
	d *driver
}

func (c *controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	rpc := func(t csi.ControllerServiceCapability_RPC_Type) *csi.ControllerServiceCapability {
		return &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{
			Rpc: &csi.ControllerServiceCapability_RPC{Type: t},
		}}
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: []*csi.ControllerServiceCapability{
		rpc(csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME),
		rpc(csi.ControllerServiceCapability_RPC_EXPAND_VOLUME),
	}}, nil
}

// CreateVolume makes <id>.img of the wanted size. A retry finds the file: fine when it is at
// least as large as asked (the provisioner retries after a timeout), refused otherwise.
func (c *controller) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetVolumeContentSource() != nil {
		return nil, errorf(codes.InvalidArgument, "volume_content_source: snapshots and clones are not served")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	size, err := wantedSize(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	path, err := c.d.image(req.GetName())
	if err != nil {
		return nil, err
	}
	defer c.d.lock(req.GetName())()

	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	switch {
	case errors.Is(err, os.ErrExist):
		have, err := fileSize(path)
		if err != nil {
			return nil, errorf(codes.Internal, "%s: %v", path, err)
		}
		if have < size {
			return nil, errorf(codes.AlreadyExists, "volume %s exists with %d bytes, %d asked", req.GetName(), have, size)
		}
		size = have
	case err != nil:
		return nil, errorf(codes.Internal, "%s: %v", path, err)
	default:
		err = f.Truncate(size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return nil, errorf(codes.Internal, "%s: %v", path, err)
		}
	}
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: req.GetName(), CapacityBytes: size}}, nil
}

func (c *controller) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	path, err := c.d.image(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	defer c.d.lock(req.GetVolumeId())()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, errorf(codes.Internal, "%s: %v", path, err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (c *controller) ValidateVolumeCapabilities(_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	path, err := c.d.image(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, errorf(codes.NotFound, "volume %s: %v", req.GetVolumeId(), err)
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeCapabilities: req.GetVolumeCapabilities(),
	}}, nil
}

// ControllerExpandVolume extends the file; the node then grows the loop device and XFS. A
// file already as large (a retry, or a smaller ask) is left as it is: volumes never shrink.
func (c *controller) ControllerExpandVolume(_ context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	size, err := wantedSize(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	path, err := c.d.image(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	defer c.d.lock(req.GetVolumeId())()
	have, err := fileSize(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errorf(codes.NotFound, "volume %s does not exist", req.GetVolumeId())
	} else if err != nil {
		return nil, errorf(codes.Internal, "%s: %v", path, err)
	}
	if have < size {
		if err := os.Truncate(path, size); err != nil {
			return nil, errorf(codes.Internal, "%s: %v", path, err)
		}
		have = size
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: have, NodeExpansionRequired: true}, nil
}
