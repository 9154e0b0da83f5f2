package main

// The node service against the real kernel: a volume file is formatted, loop-mounted, grown
// online and unmounted by the same code the kubelet calls, through hostexec. It needs root,
// loop devices and xfsprogs (e2e/local/deps.sh installs them on the machines that run the
// local cluster); hostexec enters this test's own mount namespace.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

func nodeForTest(t *testing.T) (*node, *controller, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the node test mounts loop devices: run it as root")
	}
	for _, tool := range []string{"gcc", "mkfs.xfs", "xfs_growfs", "losetup", "findmnt", "mountpoint", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing: run e2e/local/deps.sh", tool)
		}
	}
	bin := t.TempDir()
	src, err := filepath.Abs("../hostexec/hostexec.c")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-static", "-O2", "-o", filepath.Join(bin, "hostexec"), src).CombinedOutput(); err != nil {
		t.Fatalf("gcc hostexec: %v: %s", err, out)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	dir := t.TempDir()
	d := &driver{name: "test", nodeID: "n0", volumesDir: dir, locks: map[string]*sync.Mutex{},
		host: &hostRunner{pid: strconv.Itoa(os.Getpid())}}
	return &node{d: d}, &controller{d: d}, dir
}

func dfBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks) * st.Bsize
}

func TestNodePublishGrowUnpublish(t *testing.T) {
	ctx := context.Background()
	n, c, _ := nodeForTest(t)
	if _, err := c.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "pvc-n", VolumeCapabilities: rwo,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 512 << 20}}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "pods", "uid", "mount")
	pub := &csi.NodePublishVolumeRequest{VolumeId: "pvc-n", TargetPath: target, VolumeCapability: rwo[0]}
	t.Cleanup(func() { _ = exec.Command("umount", target).Run() })
	for i := 0; i < 2; i++ { // the kubelet retries after a timeout: the second finds it mounted
		if _, err := n.NodePublishVolume(ctx, pub); err != nil {
			t.Fatalf("publish #%d: %v", i, err)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(mounts), " "+target+" "); c != 1 {
		t.Fatalf("%s mounted %d times", target, c)
	}
	before := dfBytes(t, target)
	if before > 512<<20 || before < 400<<20 {
		t.Fatalf("a 512 MiB volume shows %d bytes", before)
	}
	if err := os.WriteFile(filepath.Join(target, "data"), []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}

	grow := &csi.ControllerExpandVolumeRequest{VolumeId: "pvc-n", CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}}
	if _, err := c.ControllerExpandVolume(ctx, grow); err != nil {
		t.Fatal(err)
	}
	exp := &csi.NodeExpandVolumeRequest{VolumeId: "pvc-n", VolumePath: target}
	for i := 0; i < 2; i++ {
		resp, err := n.NodeExpandVolume(ctx, exp)
		if err != nil || resp.CapacityBytes != 1<<30 {
			t.Fatalf("node expand #%d: %v, %v", i, resp, err)
		}
	}
	after := dfBytes(t, target)
	if after < (1<<30)*9/10 {
		t.Fatalf("after growth to 1 GiB the filesystem has %d bytes (was %d)", after, before)
	}

	unpub := &csi.NodeUnpublishVolumeRequest{VolumeId: "pvc-n", TargetPath: target}
	for i := 0; i < 2; i++ {
		if _, err := n.NodeUnpublishVolume(ctx, unpub); err != nil {
			t.Fatalf("unpublish #%d: %v", i, err)
		}
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("target left behind: %v", err)
	}
	// published again (the Pod moved): the same filesystem, the data on it, no new mkfs
	if _, err := n.NodePublishVolume(ctx, pub); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(target, "data"))
	if err != nil || string(got) != "kept" {
		t.Fatalf("data after re-publish: %q, %v", got, err)
	}
	if _, err := n.NodeUnpublishVolume(ctx, unpub); err != nil {
		t.Fatal(err)
	}
}
