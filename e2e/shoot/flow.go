package shoot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"time"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/testenv"
)

// Names the flow uses.
const (
	// Namespace is the shoot's control-plane namespace in the seed, also its
	// technical ID and the cluster name in the backend (on ironcore; on
	// metal-stack it is MetalStackNamespace).
	Namespace = "shoot--e2e--dev"
	// MetalStackNamespace is the shoot's namespace on metal-stack.
	MetalStackNamespace = "shoot--e2e--ms"
	// MetalNamespace holds the backend's ServerClaims, Secrets and IP claims.
	MetalNamespace = "metal-e2e"
	// Pool is the worker pool's name.
	Pool = "pool-a"
	// Region and zones of the fleet.
	Region = "region-1"
	// ProviderType is metalkube's Gardener provider type.
	ProviderType = "metalkube"
	// LBNetwork is the backend network LoadBalancer IPs come from.
	LBNetwork = "internet"
)

// Zones of the fleet (the fleet's defaults).
var Zones = []string{"zone-a", "zone-b"}

// LBPrefix is the in-cluster IPAM provider's pool of LoadBalancer IPs.
var LBPrefix = netip.MustParsePrefix("198.51.100.0/26")

// MetalOperatorNamespace is where metal-operator keeps its discovery boot
// configurations.
const MetalOperatorNamespace = "metal-operator-system"

// NodePrefix is the shoot's declared node network. (The servers' addresses
// are what metal-operator's probe agent reports: this machine's.)
var NodePrefix = netip.MustParsePrefix("10.250.0.0/16")

// Input configures a Flow.
type Input struct {
	Env *testenv.Env
	// Out receives progress a person can follow.
	Out io.Writer
	// LogDir keeps every process's log.
	LogDir string
	// Servers in the fleet and Workers in the pool (Workers <= Servers).
	Servers, Workers int
	// Firewall runs the firewall step; it needs network namespaces.
	Firewall bool
	// LogFormat is the log format of every metalkube process (json or
	// console; empty: console): given as --log-format to the processes the
	// flow starts and as $METALKUBE_LOG_FORMAT to the pods it runs as rendered.
	LogFormat string
	// Backend is BackendIronCore (default: metal-operator, the in-cluster
	// IPAM provider and the fleet's BMCs) or BackendMetalStack (the
	// metal-api emulator).
	Backend string
	// Outage, if set, cuts the components off their backend for that long
	// once the shoot runs, and checks that nothing was deleted or freed.
	Outage time.Duration
	// FirewallRoll (metal-stack, needs network namespaces) gives the shoot
	// a firewall, rolls it twice under traffic and creates and deletes a
	// Bastion.
	FirewallRoll bool
}

// Backends the flow runs on.
const (
	BackendIronCore   = "ironcore"
	BackendMetalStack = "metalstack"
)

// Flow is one run of the shoot's life.
type Flow struct {
	Input
	start      time.Time
	hw         *fleet.Hardware
	stopFleet  context.CancelFunc
	procs      []*framework.Process
	metalkube  string
	mcm        string
	kubeconfig string
	lbIP       string
	// secrets are what no process may log: credentials and user data.
	secrets []framework.Secret
	// marker is a random value in the OSC's files, so in the user data.
	marker string
	// proxy stands between the components and their backend;
	// backendKubeconfig reaches the backend through it.
	proxy             *framework.Proxy
	backendKubeconfig string
	// applied are the ManagedResources applied, by name, at their generation.
	applied map[string]int64
	// ns is the shoot's namespace.
	ns string
	// ms is the metal-stack side (BackendMetalStack).
	ms *metalStack
	// stopGC stops the stand-in for kube-controller-manager's garbage collector.
	stopGC func()
	// installed are the objects the chart's installation created.
	installed []client.Object
	// fabric plays the metal-stack firewall machines and the switches in
	// front of them; fwRolls is what the rolls measured.
	fabric  *fabric
	fwRolls []RollMeasurement
}

// New returns a flow; Run runs it.
func New(in Input) *Flow {
	if in.Out == nil {
		in.Out = io.Discard
	}
	if in.Servers == 0 {
		in.Servers = 4
	}
	if in.Workers == 0 {
		in.Workers = 2
	}
	if in.LogFormat == "" {
		in.LogFormat = component.LogFormatConsole
	}
	if in.Backend == "" {
		in.Backend = BackendIronCore
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	f := &Flow{Input: in, kubeconfig: in.Env.Kubeconfig, applied: map[string]int64{}, ns: Namespace, marker: hex.EncodeToString(b)}
	if in.Backend == BackendMetalStack {
		f.ns = MetalStackNamespace
	}
	return f
}

func (f *Flow) fleetStep() string {
	if f.Backend == BackendMetalStack {
		return "start the metal-api emulator and its machines' kubelets"
	}
	return "start metal-operator and the fleet's BMCs"
}

// zones are the zones of the shoot's workers. On metal-stack a cluster's
// private network lives in one partition, so its machines do too.
func (f *Flow) zones() []string {
	if f.Backend == BackendMetalStack {
		return Zones[:1]
	}
	return Zones
}

// StepDeleteShoot is the name of the first step of the teardown: the steps
// from it on delete the shoot and check what it left.
const StepDeleteShoot = "delete the shoot"

// Step is one phase of the flow.
type Step struct {
	Name string
	Run  func(context.Context) error
}

// Steps returns the flow's phases in order.
func (f *Flow) Steps() []Step {
	steps := []Step{
		{"build metalkube and machine-controller-manager", f.build},
		{f.fleetStep(), f.startFleet},
		{"install the chart's seed preset, run its extension Deployment; start gardener-resource-manager (seed and shoot)", f.startComponents},
		{"create the shoot: Cluster, Infrastructure, OperatingSystemConfig", f.createShoot},
		{"deploy machine-controller-manager the way gardenlet does, through the control-plane webhook", f.deployMCM},
		{"wait for Infrastructure and OperatingSystemConfig", f.waitInfrastructureAndOSC},
		{"create Worker and ControlPlane", f.createWorkerAndControlPlane},
		{"start metalkube ccm as the ControlPlane deployed it", f.startCCM},
		{"wait for machines, nodes and their initialization", f.waitNodes},
		{"create a LoadBalancer Service", f.loadBalancer},
	}
	if f.Outage > 0 {
		steps = append(steps, Step{"cut the backend off: no Node deleted, no machine freed, no component restarted", f.backendOutage})
	}
	if f.Firewall {
		steps = append(steps, Step{"run the firewall agent in a network namespace and send traffic", f.firewall})
	}
	if f.FirewallRoll {
		steps = append(steps,
			Step{"give the shoot a firewall and roll it twice under traffic", f.firewallRoll},
			Step{"create and delete a Bastion", f.bastion})
	}
	return append(steps,
		Step{StepDeleteShoot, f.deleteShoot},
		Step{"check that nothing leaked", f.checkLeaks},
		Step{"scan every process log for credentials and user data", f.scanLogs},
	)
}

// Run runs every step, stopping at the first failure, and always cleans up.
func (f *Flow) Run(ctx context.Context) (err error) {
	defer func() { err = errors.Join(err, f.Stop()) }()
	if err := f.RunSteps(ctx, f.Steps()); err != nil {
		return err
	}
	f.phase("done")
	return nil
}

// RunSteps runs the given steps in order, stopping at the first failure. The
// caller stops the flow (Stop) when done with it.
func (f *Flow) RunSteps(ctx context.Context, steps []Step) error {
	if f.start.IsZero() {
		f.start = time.Now()
	}
	for _, s := range steps {
		f.phase(s.Name)
		if err := s.Run(ctx); err != nil {
			return fmt.Errorf("%s: %w%s", s.Name, err, f.deadProcesses())
		}
	}
	return nil
}

// Stop ends the processes and the fleet's hardware.
func (f *Flow) Stop() error {
	for i := len(f.procs) - 1; i >= 0; i-- {
		f.procs[i].Stop(10 * time.Second)
	}
	// procs stay: their logs are read after a failed run (Stop is idempotent).
	if f.proxy != nil {
		_ = f.proxy.Close()
		f.proxy = nil
	}
	if f.stopFleet != nil {
		f.stopFleet()
		if f.hw != nil {
			<-f.hw.Done()
		}
		f.stopFleet = nil
	}
	if f.ms != nil {
		f.ms.stop()
	}
	if f.stopGC != nil {
		f.stopGC()
		f.stopGC = nil
	}
	f.stopFabric()
	return f.uninstallExtension()
}

func (f *Flow) phase(s string) {
	fmt.Fprintf(f.Out, "[%6.1fs] %s\n", time.Since(f.start).Seconds(), s)
}

func (f *Flow) detail(format string, args ...any) {
	fmt.Fprintf(f.Out, "           %s\n", fmt.Sprintf(format, args...))
}

// deadProcesses describes processes that exited, with their last log lines.
func (f *Flow) deadProcesses() string {
	var s string
	for _, p := range f.procs {
		if done, err := p.Exited(); done {
			s += fmt.Sprintf("\n--- %s exited (%v); log %s:\n%s", p.Name, err, p.Log, p.Tail(3000))
		}
	}
	return s
}

// Processes returns the processes the flow runs, in the order started.
func (f *Flow) Processes() []*framework.Process { return slices.Clone(f.procs) }

// Logs returns the tail of every process's log, for a failed test.
func (f *Flow) Logs(n int) string {
	var s string
	for _, p := range f.procs {
		s += fmt.Sprintf("\n--- %s (%s):\n%s", p.Name, p.Log, p.Tail(n))
	}
	return s
}

func (f *Flow) build(context.Context) error {
	var err error
	if f.metalkube, err = framework.BuildMetalkube(); err != nil {
		return err
	}
	if f.mcm, err = framework.BuildMCM(); err != nil {
		return err
	}
	f.detail("%s", f.metalkube)
	f.detail("%s", f.mcm)
	return nil
}

// startFleet starts the backend: metal-operator and the fleet's hardware
// (ironcore), or the metal-api emulator and its machines' kubelets
// (metal-stack).
func (f *Flow) startFleet(ctx context.Context) error {
	c := f.Env.Client
	for _, ns := range []string{MetalNamespace, f.ns, "metallb-system", MetalOperatorNamespace} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if ns == f.ns {
			// gardenlet labels a shoot's namespace with its provider; the
			// extension's control-plane webhook selects namespaces by it.
			n.Labels = map[string]string{"shoot.gardener.cloud/provider": ProviderType}
		}
		// Another flow in the same control plane may have made the shared ones.
		if err := c.Create(ctx, n); client.IgnoreAlreadyExists(err) != nil {
			return err
		}
	}
	if f.Backend == BackendMetalStack {
		return f.startMetalStack(ctx)
	}
	if err := f.Env.CreateIPPools(ctx, testenv.IPPool{Name: LBNetwork, Prefix: LBPrefix}); err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	mo, err := f.Env.StartMetalOperator(fctx, MetalOperatorNamespace)
	if err != nil {
		cancel()
		return err
	}
	probe, err := testenv.PeerBinary(testenv.PeerMetalProbe)
	if err != nil {
		cancel()
		return err
	}
	hw, err := fleet.NewHardware(f.Env.Config, f.Env.Config, fleet.HardwareConfig{
		Config: fleet.Config{Servers: f.Servers, Sizes: []string{"c1-large"}, Zones: Zones, Region: Region,
			RegisterNodes: true, ExternalCloudProvider: true, Heartbeat: 2 * time.Second},
		RegistryURL: mo.RegistryURL, Probe: probe,
	})
	if err != nil {
		cancel()
		return err
	}
	if err := hw.Start(fctx, 3*time.Minute); err != nil {
		cancel()
		return fmt.Errorf("%w (metal-operator's output: %s)", err, mo.Log)
	}
	f.hw, f.stopFleet = hw, cancel
	if err := f.startBackendProxy(); err != nil {
		return err
	}
	f.detail("metal-operator discovered %d servers through their Redfish BMCs, all Available in %v; LoadBalancer pool %s (in-cluster IPAM provider)", f.Servers, Zones, LBPrefix)
	return nil
}

func (f *Flow) startProcess(name, path string, args ...string) error {
	p, err := framework.StartProcess(framework.StartProcessInput{Name: name, Path: path, Args: args, LogDir: f.LogDir})
	if err != nil {
		return err
	}
	f.procs = append(f.procs, p)
	f.detail("%s started (log %s)", name, p.Log)
	return nil
}

func (f *Flow) startComponents(ctx context.Context) error {
	if err := os.MkdirAll(f.LogDir, 0o755); err != nil {
		return err
	}
	if err := f.installExtension(ctx); err != nil {
		return err
	}
	return f.startResourceManagers(ctx)
}

func rawJSON(v any) *runtime.RawExtension {
	b, _ := json.Marshal(v)
	return &runtime.RawExtension{Raw: b}
}

// Provider configs, as a Gardener operator writes them.
func (f *Flow) cloudProfileConfig() map[string]any {
	zones := []map[string]any{}
	for _, z := range f.zones() {
		zones = append(zones, map[string]any{"name": z, "partition": z})
	}
	region := map[string]any{"name": Region, "zones": zones}
	// An OCI reference on ironcore; a metal-api image (name-version,
	// resolved to its newest build) on metal-stack.
	image := "gardenlinux-1877"
	if f.Backend == BackendMetalStack {
		image = metalStackImage
	}
	if f.Backend == BackendIronCore {
		region["namespace"] = MetalNamespace
		// ironcore has no IP API: LoadBalancer IPs come from this pool.
		region["ipPools"] = []map[string]any{{"network": LBNetwork, "kind": "GlobalInClusterIPPool", "name": LBNetwork}}
	}
	return map[string]any{
		"apiVersion": "provider.metalkube.io/v1alpha1", "kind": "CloudProfileConfig",
		"machineImages": []map[string]any{{"name": "gardenlinux", "versions": []map[string]any{{"version": "1877.0.0", "image": image}}}},
		"machineTypes":  []map[string]any{{"name": "c1-large", "size": "c1-large"}},
		"regions":       []map[string]any{region},
	}
}

// credentials are the shoot's cloudprovider Secret's data and its
// InfrastructureConfig: on ironcore a kubeconfig of the cluster running
// metal-operator (here the test control plane), on metal-stack metal-api's
// URL and an HMAC key, and the project.
func (f *Flow) credentials() (map[string][]byte, map[string]any, error) {
	infra := map[string]any{"apiVersion": "provider.metalkube.io/v1alpha1", "kind": "InfrastructureConfig"}
	if f.Backend == BackendMetalStack {
		infra["project"] = MetalStackProject
		return map[string][]byte{"metalAPIURL": []byte(f.ms.api.URL()), "metalAPIHMac": []byte(f.ms.hmac)}, infra, nil
	}
	// The test control plane behind the proxy the outage step cuts.
	kc, err := os.ReadFile(f.backendKubeconfig)
	return map[string][]byte{"kubeconfig": kc}, infra, err
}

func (f *Flow) createShoot(ctx context.Context) error {
	c := f.Env.Client
	creds, infraConfig, err := f.credentials()
	if err != nil {
		return err
	}
	if err := f.createGenericKubeconfig(ctx); err != nil {
		return err
	}
	workers := []gardencorev1beta1.Worker{{
		Name: Pool, Minimum: int32(f.Workers), Maximum: int32(f.Workers),
		Machine: gardencorev1beta1.Machine{Type: "c1-large", Image: &gardencorev1beta1.ShootMachineImage{Name: "gardenlinux", Version: ptr("1877.0.0")}},
		Zones:   f.zones(),
	}}
	shoot := &gardencorev1beta1.Shoot{
		TypeMeta:   metav1.TypeMeta{APIVersion: "core.gardener.cloud/v1beta1", Kind: "Shoot"},
		ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: "garden-e2e"},
		Spec: gardencorev1beta1.ShootSpec{
			Region: Region, Kubernetes: gardencorev1beta1.Kubernetes{Version: "1.36.4"},
			Networking: &gardencorev1beta1.Networking{Type: ptr("calico"), Nodes: ptr(NodePrefix.String()), Pods: ptr("100.96.0.0/11"), Services: ptr("100.64.0.0/13")},
			Provider:   gardencorev1beta1.Provider{Type: ProviderType, Workers: workers, InfrastructureConfig: rawJSON(infraConfig)},
		},
		Status: gardencorev1beta1.ShootStatus{TechnicalID: f.ns},
	}
	cp := &gardencorev1beta1.CloudProfile{
		TypeMeta:   metav1.TypeMeta{APIVersion: "core.gardener.cloud/v1beta1", Kind: "CloudProfile"},
		ObjectMeta: metav1.ObjectMeta{Name: ProviderType},
		Spec: gardencorev1beta1.CloudProfileSpec{Type: ProviderType, ProviderConfig: rawJSON(f.cloudProfileConfig()),
			MachineTypes: []gardencorev1beta1.MachineType{{Name: "c1-large", CPU: resource.MustParse("64"), GPU: resource.MustParse("0"), Memory: resource.MustParse("256Gi")}}},
	}
	seed := &gardencorev1beta1.Seed{TypeMeta: metav1.TypeMeta{APIVersion: "core.gardener.cloud/v1beta1", Kind: "Seed"}, ObjectMeta: metav1.ObjectMeta{Name: "seed"}}
	for _, obj := range []clientObject{
		&extensionsv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: f.ns},
			Spec: extensionsv1alpha1.ClusterSpec{Shoot: *rawJSON(shoot), CloudProfile: *rawJSON(cp), Seed: rawJSON(seed)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cloudprovider", Namespace: f.ns}, Data: creds},
		&extensionsv1alpha1.Infrastructure{
			ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns},
			Spec: extensionsv1alpha1.InfrastructureSpec{
				DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: ProviderType, ProviderConfig: rawJSON(infraConfig)},
				Region:      Region, SecretRef: corev1.SecretReference{Name: "cloudprovider", Namespace: f.ns},
			},
		},
		f.oscWithMarker(),
	} {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %T: %w", obj, err)
		}
	}
	f.detail("namespace %s: Cluster, Infrastructure, OperatingSystemConfig (gardenlinux, provision)", f.ns)
	return nil
}

// osc is the provision OperatingSystemConfig of the pool: a kubelet unit with
// a drop-in and the files a node needs, as gardenlet would send.
func (f *Flow) osc() *extensionsv1alpha1.OperatingSystemConfig {
	return &extensionsv1alpha1.OperatingSystemConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "osc-" + Pool, Namespace: f.ns},
		Spec: extensionsv1alpha1.OperatingSystemConfigSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "gardenlinux"},
			Purpose:     extensionsv1alpha1.OperatingSystemConfigPurposeProvision,
			Units: []extensionsv1alpha1.Unit{{
				Name: "gardener-node-init.service", Enable: ptr(true), Command: ptr(extensionsv1alpha1.CommandStart),
				Content: ptr("[Unit]\nDescription=Downloads the gardener-node-agent\n[Service]\nType=oneshot\nExecStart=/var/lib/gardener-node-agent/init.sh\n[Install]\nWantedBy=multi-user.target\n"),
			}},
			Files: []extensionsv1alpha1.File{{
				Path: "/var/lib/gardener-node-agent/init.sh", Permissions: ptr(uint32(0o755)),
				Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Encoding: "", Data: "#!/bin/bash\necho starting gardener-node-agent\n"}},
			}},
		},
	}
}

// oscWithMarker is osc() with a file holding the flow's random marker, which
// the log scan looks for.
func (f *Flow) oscWithMarker() *extensionsv1alpha1.OperatingSystemConfig {
	o := f.osc()
	o.Spec.Files = append(o.Spec.Files, extensionsv1alpha1.File{Path: "/etc/metalkube-e2e/marker", Permissions: ptr(uint32(0o600)),
		Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: f.marker + "\n"}}})
	f.secrets = append(f.secrets, framework.Secret{Name: "the user data's marker file", Value: []byte(f.marker)})
	return o
}

func ptr[T any](v T) *T { return &v }
