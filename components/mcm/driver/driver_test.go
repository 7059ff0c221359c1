package driver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	mcmdriver "github.com/gardener/machine-controller-manager/pkg/util/provider/driver"
	"github.com/gardener/machine-controller-manager/pkg/util/provider/machinecodes/codes"
	"github.com/gardener/machine-controller-manager/pkg/util/provider/machinecodes/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/metalkube/metalkube/components/mcm/driver"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/memory"
)

const ns = "shoot--p--c"

func newDriver(t *testing.T, servers int) (*driver.Driver, *memory.Backend) {
	t.Helper()
	b := memory.New(memory.Config{Servers: memory.Fleet(servers),
		Pools: []memory.Pool{{Network: "internet", Prefix: netip.MustParsePrefix("203.0.113.0/28")}}})
	d, err := driver.New(driver.Config{Backend: b, InitializeTimeout: 200 * time.Millisecond, DeleteTimeout: 200 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return d, b
}

func class(spec string) *v1alpha1.MachineClass {
	return &v1alpha1.MachineClass{ObjectMeta: metav1.ObjectMeta{Name: "worker-a", Namespace: ns}, ProviderSpec: runtime.RawExtension{Raw: []byte(spec)}}
}

const validSpec = `{"image":"flatcar","size":"c1-large","ipAddresses":[{"network":"internet"}],"tags":{"team":"infra"}}`

func secret(userData string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "worker-a", Namespace: ns}, Data: map[string][]byte{"userData": []byte(userData)}}
}

func machine(name string) *v1alpha1.Machine {
	return &v1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
}

func create(d *driver.Driver, name, spec string) (*mcmdriver.CreateMachineResponse, error) {
	return d.CreateMachine(context.Background(), &mcmdriver.CreateMachineRequest{Machine: machine(name), MachineClass: class(spec), Secret: secret("#cloud-config\n")})
}

func code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	s, _ := status.FromError(err)
	return s.Code()
}

func TestCreateMachine(t *testing.T) {
	tests := []struct {
		name     string
		servers  int
		spec     string
		secret   *corev1.Secret
		down     bool
		wantCode codes.Code
		wantMsg  string
	}{
		{name: "allocates", servers: 1, spec: validSpec, secret: secret("#cloud-config\n")},
		{name: "invalid spec names the field", servers: 1, spec: `{"image":"","serverLabels":{"a b":"c"}}`, secret: secret("x"),
			wantCode: codes.InvalidArgument, wantMsg: "providerSpec.image"},
		{name: "unknown field", servers: 1, spec: `{"image":"x","sizee":"c1"}`, secret: secret("x"), wantCode: codes.InvalidArgument, wantMsg: "providerSpec.sizee"},
		{name: "no user data", servers: 1, spec: validSpec, secret: &corev1.Secret{}, wantCode: codes.InvalidArgument, wantMsg: "userData"},
		{name: "no secret", servers: 1, spec: validSpec, wantCode: codes.InvalidArgument},
		{name: "no capacity", servers: 1, spec: `{"image":"x","size":"huge"}`, secret: secret("x"), wantCode: codes.ResourceExhausted},
		{name: "no servers at all", servers: 0, spec: validSpec, secret: secret("x"), wantCode: codes.ResourceExhausted},
		{name: "backend down", servers: 1, spec: validSpec, secret: secret("x"), down: true, wantCode: codes.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, b := newDriver(t, tc.servers)
			b.SetUnavailable(tc.down)
			resp, err := d.CreateMachine(context.Background(), &mcmdriver.CreateMachineRequest{Machine: machine("m1"), MachineClass: class(tc.spec), Secret: tc.secret})
			b.SetUnavailable(false)
			if got := code(err); got != tc.wantCode {
				t.Fatalf("code = %s (%v), want %s", got, err, tc.wantCode)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("error %q does not mention %q", err, tc.wantMsg)
				}
				if ms, _ := b.ListMachines(context.Background(), ns); len(ms) != 0 {
					t.Errorf("failed create left machines: %+v", ms)
				}
				return
			}
			if resp.ProviderID != "metal://memory/"+ns+".m1" || resp.NodeName != "m1" {
				t.Errorf("response = %+v", resp)
			}
			m, err := b.FindMachine(context.Background(), ns, "m1")
			if err != nil {
				t.Fatal(err)
			}
			if m.PoweredOn || m.Image != "flatcar" || m.Size != "c1-large" || m.Tags["team"] != "infra" ||
				m.Tags["mcm.metalkube.io/machine"] != "m1" || m.Tags["mcm.metalkube.io/machine-class"] != "worker-a" {
				t.Errorf("allocated machine = %+v", m)
			}
		})
	}
}

func TestCreateMachineIsIdempotent(t *testing.T) {
	d, b := newDriver(t, 3)
	first, err := create(d, "m1", validSpec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		again, err := create(d, "m1", validSpec)
		if err != nil || again.ProviderID != first.ProviderID || again.NodeName != first.NodeName {
			t.Fatalf("create #%d = %+v, %v; want %+v", i+2, again, err, first)
		}
	}
	ms, _ := b.ListMachines(context.Background(), ns)
	if len(ms) != 1 {
		t.Errorf("%d machines for one Machine", len(ms))
	}
}

func TestMachineLifecycle(t *testing.T) {
	d, b := newDriver(t, 2)
	ctx := context.Background()
	m, c := machine("m1"), class(validSpec)

	_, err := d.GetMachineStatus(ctx, &mcmdriver.GetMachineStatusRequest{Machine: m, MachineClass: c})
	if code(err) != codes.NotFound {
		t.Fatalf("status before create: %v, want NotFound", err)
	}
	created, err := create(d, "m1", validSpec)
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.GetMachineStatus(ctx, &mcmdriver.GetMachineStatusRequest{Machine: m, MachineClass: c})
	if code(err) != codes.Uninitialized || st == nil || st.ProviderID != created.ProviderID || st.NodeName != "m1" {
		t.Fatalf("status after create = %+v, %v; want Uninitialized with provider ID", st, err)
	}
	init, err := d.InitializeMachine(ctx, &mcmdriver.InitializeMachineRequest{Machine: m, MachineClass: c})
	if err != nil {
		t.Fatal(err)
	}
	if !hasAddress(init.Addresses, corev1.NodeExternalIP, "203.0.113.1") || !hasAddress(init.Addresses, corev1.NodeInternalIP, "10.0.0.1") {
		t.Errorf("initialize addresses = %+v", init.Addresses)
	}
	if _, err := d.InitializeMachine(ctx, &mcmdriver.InitializeMachineRequest{Machine: m, MachineClass: c}); err != nil {
		t.Fatalf("second initialize: %v", err)
	}
	if ips, _ := b.FindIPs(ctx, metal.IPQuery{Cluster: ns}); len(ips) != 1 {
		t.Errorf("IPs after two initializations: %+v", ips)
	}
	st, err = d.GetMachineStatus(ctx, &mcmdriver.GetMachineStatusRequest{Machine: m, MachineClass: c})
	if err != nil || st.ProviderID != created.ProviderID {
		t.Fatalf("status after initialize = %+v, %v", st, err)
	}
	list, err := d.ListMachines(ctx, &mcmdriver.ListMachinesRequest{MachineClass: c})
	if err != nil || len(list.MachineList) != 1 || list.MachineList[created.ProviderID] != "m1" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	for i := range 2 {
		if _, err := d.DeleteMachine(ctx, &mcmdriver.DeleteMachineRequest{Machine: m, MachineClass: c}); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	if ms, _ := b.ListMachines(ctx, ns); len(ms) != 0 {
		t.Errorf("machines after delete: %+v", ms)
	}
	if ips, _ := b.FindIPs(ctx, metal.IPQuery{Cluster: ns}); len(ips) != 0 {
		t.Errorf("IPs after delete: %+v", ips)
	}
	_, err = d.GetMachineStatus(ctx, &mcmdriver.GetMachineStatusRequest{Machine: m, MachineClass: c})
	if code(err) != codes.NotFound {
		t.Fatalf("status after delete: %v, want NotFound", err)
	}
}

func TestInitializeMachine(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*memory.Backend)
		create   bool
		spec     string
		wantCode codes.Code
	}{
		{name: "powers on", create: true, spec: validSpec},
		{name: "no machine", spec: validSpec, wantCode: codes.NotFound},
		{name: "backend down", create: true, spec: validSpec, setup: func(b *memory.Backend) { b.SetUnavailable(true) }, wantCode: codes.Unavailable},
		{name: "network without pool", create: true, spec: `{"image":"x","ipAddresses":[{"network":"nowhere"}]}`, wantCode: codes.InvalidArgument},
		{name: "lost server stays uninitialized", create: true, spec: validSpec,
			setup: func(b *memory.Backend) { b.LoseServer(ns + ".m1") }, wantCode: codes.Uninitialized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, b := newDriver(t, 1)
			if tc.create {
				if _, err := create(d, "m1", tc.spec); err != nil {
					t.Fatal(err)
				}
			}
			if tc.setup != nil {
				tc.setup(b)
			}
			_, err := d.InitializeMachine(context.Background(), &mcmdriver.InitializeMachineRequest{Machine: machine("m1"), MachineClass: class(tc.spec)})
			if got := code(err); got != tc.wantCode {
				t.Fatalf("code = %s (%v), want %s", got, err, tc.wantCode)
			}
		})
	}
}

func TestDeleteMachineOutage(t *testing.T) {
	d, b := newDriver(t, 1)
	ctx := context.Background()
	if _, err := create(d, "m1", validSpec); err != nil {
		t.Fatal(err)
	}
	b.SetUnavailable(true)
	_, err := d.DeleteMachine(ctx, &mcmdriver.DeleteMachineRequest{Machine: machine("m1"), MachineClass: class(validSpec)})
	b.SetUnavailable(false)
	if code(err) != codes.Unavailable {
		t.Fatalf("delete during outage: %v, want Unavailable", err)
	}
	if _, err := b.FindMachine(ctx, ns, "m1"); err != nil {
		t.Fatalf("machine gone after failed delete: %v", err)
	}
	if _, err := d.DeleteMachine(ctx, &mcmdriver.DeleteMachineRequest{Machine: machine("m1"), MachineClass: class(validSpec)}); err != nil {
		t.Fatalf("delete after outage: %v", err)
	}
}

func TestListMachinesOnlyThisCluster(t *testing.T) {
	d, _ := newDriver(t, 4)
	for i, cluster := range []string{"", "other", "", "third"} {
		spec := validSpec
		if cluster != "" {
			spec = `{"image":"x","cluster":"` + cluster + `"}`
		}
		if _, err := create(d, fmt.Sprintf("m%d", i), spec); err != nil {
			t.Fatal(err)
		}
	}
	list, err := d.ListMachines(context.Background(), &mcmdriver.ListMachinesRequest{MachineClass: class(validSpec)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"metal://memory/" + ns + ".m0": "m0", "metal://memory/" + ns + ".m2": "m2"}
	if fmt.Sprint(list.MachineList) != fmt.Sprint(want) {
		t.Errorf("list = %v, want %v", list.MachineList, want)
	}
}

func TestGetVolumeIDs(t *testing.T) {
	lvm := &corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "lvm.csi.metal-stack.io", VolumeHandle: "pvc-1"}}}
	other := &corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "nfs.csi.k8s.io", VolumeHandle: "nfs-1"}}}
	local := &corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disks/ssd1"}}}
	nfs := &corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}}
	tests := []struct {
		name    string
		drivers []string
		specs   []*corev1.PersistentVolumeSpec
		want    []string
	}{
		{name: "none", want: nil},
		{name: "all CSI and local", specs: []*corev1.PersistentVolumeSpec{lvm, other, local, nfs, nil}, want: []string{"pvc-1", "nfs-1", "/mnt/disks/ssd1"}},
		{name: "configured CSI drivers only", drivers: []string{"lvm.csi.metal-stack.io"}, specs: []*corev1.PersistentVolumeSpec{lvm, other, local}, want: []string{"pvc-1", "/mnt/disks/ssd1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := driver.New(driver.Config{Backend: memory.New(memory.Config{}), CSIDrivers: tc.drivers})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := d.GetVolumeIDs(context.Background(), &mcmdriver.GetVolumeIDsRequest{PVSpecs: tc.specs})
			if err != nil || fmt.Sprint(resp.VolumeIDs) != fmt.Sprint(tc.want) {
				t.Errorf("volume IDs = %v, %v; want %v", resp.VolumeIDs, err, tc.want)
			}
		})
	}
}

func TestGenerateMachineClassForMigration(t *testing.T) {
	d, _ := newDriver(t, 0)
	_, err := d.GenerateMachineClassForMigration(context.Background(), &mcmdriver.GenerateMachineClassForMigrationRequest{})
	if code(err) != codes.Unimplemented {
		t.Errorf("code = %s, want Unimplemented", code(err))
	}
}

func TestUserDataHostname(t *testing.T) {
	tests := []struct {
		name, userData string
		wantHostname   bool // an /etc/hostname with the machine name is added
	}{
		{name: "ignition without hostname", userData: `{"ignition":{"version":"3.5.0"}}`, wantHostname: true},
		{name: "ignition with other files", userData: `{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/motd"}]}}`, wantHostname: true},
		{name: "ignition with hostname", userData: `{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":"data:,custom"}}]}}`},
		{name: "cloud-init", userData: "#cloud-config\nhostname: x\n"},
		{name: "json that is not ignition", userData: `{"a":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := memory.New(memory.Config{Servers: memory.Fleet(1)})
			d, _ := driver.New(driver.Config{Backend: &captureBackend{Backend: b}})
			_, err := d.CreateMachine(context.Background(), &mcmdriver.CreateMachineRequest{Machine: machine("node-1"), MachineClass: class(`{"image":"x"}`), Secret: secret(tc.userData)})
			if err != nil {
				t.Fatal(err)
			}
			got := d.Config().Backend.(*captureBackend).userData
			if !tc.wantHostname {
				if string(got) != tc.userData {
					t.Errorf("user data changed: %s", got)
				}
				return
			}
			var cfg struct {
				Storage struct {
					Files []struct {
						Path     string
						Contents struct{ Source string }
					}
				}
			}
			if err := json.Unmarshal(got, &cfg); err != nil {
				t.Fatal(err)
			}
			last := cfg.Storage.Files[len(cfg.Storage.Files)-1]
			if last.Path != "/etc/hostname" || last.Contents.Source != "data:,node-1%0A" {
				t.Errorf("files = %+v", cfg.Storage.Files)
			}
		})
	}
}

type captureBackend struct {
	*memory.Backend
	userData []byte
}

func (c *captureBackend) AllocateMachine(ctx context.Context, spec metal.MachineSpec) (*metal.Machine, error) {
	c.userData = spec.UserData
	return c.Backend.AllocateMachine(ctx, spec)
}

func hasAddress(as []corev1.NodeAddress, typ corev1.NodeAddressType, addr string) bool {
	for _, a := range as {
		if a.Type == typ && a.Address == addr {
			return true
		}
	}
	return false
}

// flakyBackend fails every other GetMachine as unavailable.
type flakyBackend struct {
	*memory.Backend
	n int
}

func (f *flakyBackend) GetMachine(ctx context.Context, id string) (*metal.Machine, error) {
	f.n++
	if f.n%2 == 1 {
		return nil, metal.Errorf(metal.ErrUnavailable, "get machine", id, "flaky")
	}
	return f.Backend.GetMachine(ctx, id)
}

func TestInitializeRidesOutBlips(t *testing.T) {
	b := &flakyBackend{Backend: memory.New(memory.Config{Servers: memory.Fleet(1)})}
	d, _ := driver.New(driver.Config{Backend: b, InitializeTimeout: time.Second, PollInterval: time.Millisecond})
	if _, err := create(d, "m1", `{"image":"x"}`); err != nil {
		t.Fatal(err)
	}
	// The memory backend powers on at once; make the first look miss it.
	if _, err := d.InitializeMachine(context.Background(), &mcmdriver.InitializeMachineRequest{Machine: machine("m1"), MachineClass: class(`{"image":"x"}`)}); err != nil {
		t.Fatalf("initialize with a flaky backend: %v", err)
	}
}
