// Command csi-loop is the local cluster's CSI driver that can grow its volumes online.
//
// Every volume is a sparse file <volumes-dir>/<volume-id>.img on the machine that runs the
// nodes (all nodes of a local cluster share its filesystem, so any node can mount any volume:
// no topology). The node plugin formats it XFS on first use and loop-mounts it at the target
// path; a growth extends the file (controller) and then the loop device and the filesystem
// (node, online). XFS rather than ext4: ext4's online resize needs CAP_SYS_RESOURCE, which the
// test machines do not grant; xfs_growfs needs only CAP_SYS_ADMIN. A filesystem of its own per
// volume is the point: `df` in a Pod shows the claim's size, and shows it grow.
//
// Two modes, as CSI drivers are deployed:
//
//	--mode=controller  Identity + Controller services (create, delete, expand), beside the
//	                   external-provisioner and external-resizer sidecars.
//	--mode=node        Identity + Node services on every node, and the kubelet's plugin
//	                   registration (the job node-driver-registrar does elsewhere) on
//	                   <kubelet-root>/plugins_registry.
//
// Invariants: every RPC is idempotent (a retried create, expand, publish or unpublish finds
// its work done and says so); operations on one volume are serialised; a volume never shrinks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	registration "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

const (
	// defaultSize is the size of a volume whose claim asks for none.
	defaultSize = 1 << 30
	// minSize is the smallest volume: mkfs.xfs refuses a filesystem below 300 MiB.
	minSize = 300 << 20
	version = "0.1.0"
)

// volumeID is what CreateVolume accepts as a name (the provisioner's pvc-<uid>): it becomes a
// file name, so nothing that could leave the volumes directory.
var volumeID = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$`)

type driver struct {
	name       string
	nodeID     string
	volumesDir string
	host       *hostRunner

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// lock serialises the operations on one volume; the returned function releases it.
func (d *driver) lock(id string) func() {
	d.mu.Lock()
	l, ok := d.locks[id]
	if !ok {
		l = &sync.Mutex{}
		d.locks[id] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (d *driver) image(id string) (string, error) {
	if !volumeID.MatchString(id) {
		return "", status.Errorf(codes.InvalidArgument, "volume id %q: expected letters, digits, '.', '_' or '-'", id)
	}
	return filepath.Join(d.volumesDir, id+".img"), nil
}

// checkCapabilities accepts single-node filesystem access, the only kind a loop-mounted XFS
// can serve safely.
func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume_capabilities: at least one is required")
	}
	for _, c := range caps {
		if c.GetMount() == nil {
			return status.Error(codes.InvalidArgument, "volume_capabilities: only filesystem (mount) volumes are served, not block")
		}
		switch c.GetAccessMode().GetMode() {
		case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
			csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
			csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER,
			csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY:
		default:
			return status.Errorf(codes.InvalidArgument, "access mode %s: only single-node modes (ReadWriteOnce, ReadWriteOncePod) are served", c.GetAccessMode().GetMode())
		}
	}
	return nil
}

// wantedSize is the size a capacity range asks for: its required bytes (else its limit, else
// the default), raised to the XFS minimum when the limit allows it.
func wantedSize(r *csi.CapacityRange) (int64, error) {
	size := r.GetRequiredBytes()
	if size == 0 {
		size = r.GetLimitBytes()
	}
	if size == 0 {
		size = defaultSize
	}
	if size < minSize {
		size = minSize
	}
	if limit := r.GetLimitBytes(); limit != 0 && size > limit {
		return 0, status.Errorf(codes.OutOfRange, "capacity: limit %d bytes is below the smallest volume (%d bytes, mkfs.xfs's minimum)", limit, int64(minSize))
	}
	return size, nil
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func main() {
	mode := flag.String("mode", "", "controller or node")
	name := flag.String("driver-name", "csi-loop.moco.local", "the CSI driver's name (the StorageClass's provisioner)")
	endpoint := flag.String("endpoint", "/csi/csi.sock", "unix socket the CSI services listen on")
	volumesDir := flag.String("volumes-dir", "", "directory of the volume files (the same path in the container and on the node)")
	nodeID := flag.String("node-id", "", "node mode: this node's name")
	kubeletRoot := flag.String("kubelet-root", "", "node mode: the kubelet's --root-dir as seen on the node")
	hostPID := flag.Int("host-pid", 0, "node mode: a process in the node's mount namespace (default: our parent, the container's shim; needs hostPID)")
	flag.Parse()

	if *volumesDir == "" {
		log.Fatal("--volumes-dir is required")
	}
	d := &driver{name: *name, nodeID: *nodeID, volumesDir: *volumesDir, locks: map[string]*sync.Mutex{}}
	srv := grpc.NewServer()
	csi.RegisterIdentityServer(srv, &identity{d: d})
	var reg *grpc.Server
	switch *mode {
	case "controller":
		if err := os.MkdirAll(*volumesDir, 0o700); err != nil {
			log.Fatalf("--volumes-dir: %v", err)
		}
		csi.RegisterControllerServer(srv, &controller{d: d})
	case "node":
		if *nodeID == "" || *kubeletRoot == "" {
			log.Fatal("--mode=node needs --node-id and --kubelet-root")
		}
		pid := *hostPID
		if pid == 0 {
			pid = os.Getppid()
		}
		host, err := newHostRunner(pid)
		if err != nil {
			log.Fatalf("--host-pid: %v", err)
		}
		d.host = host
		csi.RegisterNodeServer(srv, &node{d: d})
		reg = grpc.NewServer()
		registration.RegisterRegistrationServer(reg, &registrar{
			name:     *name,
			endpoint: filepath.Join(*kubeletRoot, "plugins", *name, "csi.sock"),
		})
		go serve(reg, filepath.Join(*kubeletRoot, "plugins_registry", *name+"-reg.sock"))
	default:
		log.Fatalf("--mode=%q: expected controller or node", *mode)
	}
	go serve(srv, *endpoint)
	log.Printf("csi-loop %s: %s mode, driver %s, volumes in %s", version, *mode, *name, *volumesDir)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	log.Print("stopping")
	if reg != nil {
		reg.Stop()
	}
	srv.GracefulStop()
}

// serve listens on a fresh unix socket at path (a stale one from an earlier run is removed).
func serve(s *grpc.Server, path string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Fatalf("%s: %v", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	if err := s.Serve(l); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
}

type identity struct {
	csi.UnimplementedIdentityServer
	d *driver
}

func (i *identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: i.d.name, VendorVersion: version}, nil
}

func (i *identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	svc := func(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
		return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: t}}}
	}
	online := &csi.PluginCapability{Type: &csi.PluginCapability_VolumeExpansion_{
		VolumeExpansion: &csi.PluginCapability_VolumeExpansion{Type: csi.PluginCapability_VolumeExpansion_ONLINE},
	}}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{
		svc(csi.PluginCapability_Service_CONTROLLER_SERVICE), online,
	}}, nil
}

func (i *identity) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}

// registrar answers the kubelet's plugin watcher: which driver, and where its socket is.
type registrar struct {
	registration.UnimplementedRegistrationServer
	name, endpoint string
}

func (r *registrar) GetInfo(context.Context, *registration.InfoRequest) (*registration.PluginInfo, error) {
	return &registration.PluginInfo{
		Type:              registration.CSIPlugin,
		Name:              r.name,
		Endpoint:          r.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registrar) NotifyRegistrationStatus(_ context.Context, s *registration.RegistrationStatus) (*registration.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		// The kubelet refused us: nothing works until the Pod is re-created, so say why and exit.
		log.Fatalf("kubelet refused the registration of %s: %s", r.name, s.Error)
	}
	log.Printf("registered with the kubelet as %s (%s)", r.name, r.endpoint)
	return &registration.RegistrationStatusResponse{}, nil
}

func errorf(c codes.Code, format string, a ...any) error {
	return status.Error(c, fmt.Sprintf(format, a...))
}
