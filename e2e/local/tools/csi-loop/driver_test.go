package main

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func mountCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

var rwo = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)}

func code(err error) codes.Code { return status.Code(err) }

func TestWantedSize(t *testing.T) {
	for _, tc := range []struct {
		name            string
		required, limit int64
		want            int64
		code            codes.Code
	}{
		{"nothing asked: the default", 0, 0, defaultSize, codes.OK},
		{"required", 2 << 30, 0, 2 << 30, codes.OK},
		{"limit alone", 0, 1 << 30, 1 << 30, codes.OK},
		{"below the XFS minimum: raised", 64 << 20, 0, minSize, codes.OK},
		{"limit below the minimum: refused", 64 << 20, 100 << 20, 0, codes.OutOfRange},
	} {
		got, err := wantedSize(&csi.CapacityRange{RequiredBytes: tc.required, LimitBytes: tc.limit})
		if code(err) != tc.code || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d, %v", tc.name, got, err, tc.want, tc.code)
		}
	}
}

func TestCapabilities(t *testing.T) {
	block := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
	for _, tc := range []struct {
		name string
		caps []*csi.VolumeCapability
		code codes.Code
	}{
		{"ReadWriteOnce filesystem", rwo, codes.OK},
		{"ReadWriteOncePod", []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER)}, codes.OK},
		{"none", nil, codes.InvalidArgument},
		{"block", []*csi.VolumeCapability{block}, codes.InvalidArgument},
		{"ReadWriteMany", []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)}, codes.InvalidArgument},
	} {
		if got := code(checkCapabilities(tc.caps)); got != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.code)
		}
	}
}

func newController(t *testing.T) (*controller, string) {
	dir := t.TempDir()
	return &controller{d: &driver{name: "test", volumesDir: dir, locks: map[string]*sync.Mutex{}}}, dir
}

func size(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// A volume's life on the controller side: create (retried), grow (retried, and never shrunk),
// delete (retried).
func TestControllerCreateExpandDeleteAreIdempotent(t *testing.T) {
	ctx := context.Background()
	c, dir := newController(t)
	img := filepath.Join(dir, "pvc-1.img")
	create := &csi.CreateVolumeRequest{Name: "pvc-1", VolumeCapabilities: rwo, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}}
	for i := 0; i < 2; i++ {
		resp, err := c.CreateVolume(ctx, create)
		if err != nil || resp.Volume.CapacityBytes != 1<<30 || resp.Volume.VolumeId != "pvc-1" {
			t.Fatalf("create #%d: %v, %v", i, resp, err)
		}
	}
	if got := size(t, img); got != 1<<30 {
		t.Fatalf("file of %d bytes", got)
	}
	bigger := &csi.CreateVolumeRequest{Name: "pvc-1", VolumeCapabilities: rwo, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}}
	if _, err := c.CreateVolume(ctx, bigger); code(err) != codes.AlreadyExists {
		t.Fatalf("create of an existing smaller volume: %v, want AlreadyExists", err)
	}

	grow := &csi.ControllerExpandVolumeRequest{VolumeId: "pvc-1", CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}}
	for i := 0; i < 2; i++ {
		resp, err := c.ControllerExpandVolume(ctx, grow)
		if err != nil || resp.CapacityBytes != 2<<30 || !resp.NodeExpansionRequired {
			t.Fatalf("expand #%d: %v, %v", i, resp, err)
		}
	}
	shrink := &csi.ControllerExpandVolumeRequest{VolumeId: "pvc-1", CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}}
	if resp, err := c.ControllerExpandVolume(ctx, shrink); err != nil || resp.CapacityBytes != 2<<30 {
		t.Fatalf("a smaller ask: %v, %v; want the volume left at 2 GiB", resp, err)
	}
	if got := size(t, img); got != 2<<30 {
		t.Fatalf("file of %d bytes after growth", got)
	}
	if _, err := c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: "pvc-2", CapacityRange: grow.CapacityRange}); code(err) != codes.NotFound {
		t.Fatalf("expand of a missing volume: %v", err)
	}

	for i := 0; i < 2; i++ {
		if _, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "pvc-1"}); err != nil {
			t.Fatalf("delete #%d: %v", i, err)
		}
	}
	if _, err := os.Stat(img); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
}

func TestVolumeIDsStayInTheVolumesDirectory(t *testing.T) {
	c, _ := newController(t)
	for _, id := range []string{"../escape", "a/b", "", ".hidden"} {
		_, err := c.CreateVolume(context.Background(), &csi.CreateVolumeRequest{Name: id, VolumeCapabilities: rwo})
		if code(err) != codes.InvalidArgument {
			t.Errorf("volume name %q: %v, want InvalidArgument", id, err)
		}
	}
}
