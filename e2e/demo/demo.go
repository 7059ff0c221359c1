package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/options"
	"github.com/metalkube/metalkube/shared/testenv"
)

// Options configure a demo run.
type Options struct {
	// Out receives the progress.
	Out io.Writer
	// Servers in the emulated fleet; Machines to allocate from it.
	Servers, Machines int
	// Kubeconfig is where the kubeconfig is written; empty: a temporary file.
	Kubeconfig string
	// Hold keeps everything running after the walk until ctx is done.
	Hold bool
}

// Cluster is the cluster name the demo allocates for.
const Cluster = "demo"

// Namespace holds the demo's claims.
const Namespace = "metal-demo"

type run struct {
	Options
	start time.Time
	env   *testenv.Env
	emu   *fleet.Emulator
	metal metal.Client
	// stopFleet stops the emulator; it must stop before the API server.
	stopFleet context.CancelFunc
}

// Run runs the demo until the walk is done (and, with Hold, until ctx is done).
func Run(ctx context.Context, opts Options) (err error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Servers == 0 {
		opts.Servers = 8
	}
	if opts.Machines == 0 {
		opts.Machines = 4
	}
	if opts.Machines > opts.Servers {
		return fmt.Errorf("machines (%d) > servers (%d)", opts.Machines, opts.Servers)
	}
	r := &run{Options: opts, start: time.Now()}
	defer func() { err = errors.Join(err, r.stop()) }()
	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"start the control plane (kube-apiserver + etcd)", r.controlPlane},
		{"start the fleet emulator", r.fleet},
		{"connect the ironcore backend", r.backend},
		{"allocate machines", r.allocate},
		{"wait for claims, power and nodes", r.converge},
	} {
		r.phase(step.name)
		if err := step.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	r.phase(fmt.Sprintf("done: %d machines running as nodes", r.Machines))
	fmt.Fprintf(r.Out, "\n  kubeconfig: %s\n  try: kubectl --kubeconfig %s get servers,serverclaims,nodes -A\n", r.Kubeconfig, r.Kubeconfig)
	if r.Hold {
		fmt.Fprintln(r.Out, "\n  running; press Ctrl-C to stop")
		<-ctx.Done()
		r.phase("stopping")
	}
	return nil
}

func (r *run) phase(s string) {
	fmt.Fprintf(r.Out, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), s)
}

func (r *run) detail(format string, args ...any) {
	fmt.Fprintf(r.Out, "           %s\n", fmt.Sprintf(format, args...))
}

func (r *run) controlPlane(context.Context) error {
	env, err := testenv.Start(testenv.Options{CRDs: []testenv.CRDSet{testenv.MetalOperator, testenv.ClusterAPIIPAM}})
	if err != nil {
		return err
	}
	r.env = env
	if r.Kubeconfig == "" {
		r.Kubeconfig = env.Kubeconfig
	} else {
		if err := os.MkdirAll(filepath.Dir(r.Kubeconfig), 0o755); err != nil {
			return err
		}
		if err := testenv.WriteKubeconfig(env.Config, r.Kubeconfig); err != nil {
			return err
		}
	}
	r.detail("API server %s", env.Config.Host)
	return nil
}

func (r *run) fleet(ctx context.Context) error {
	emu, err := fleet.New(r.env.Config, r.env.Config, fleet.Config{
		Servers: r.Servers, Sizes: []string{"c1-large"}, RegisterNodes: true, Heartbeat: 5 * time.Second,
		PowerOnDelay: 300 * time.Millisecond, BootDelay: 500 * time.Millisecond,
		Pools: []fleet.Pool{{APIGroup: "ipam.cluster.x-k8s.io", Kind: "GlobalInClusterIPPool", Name: "internet",
			Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}},
	})
	if err != nil {
		return err
	}
	ctx, r.stopFleet = context.WithCancel(ctx)
	if err := emu.Start(ctx); err != nil {
		return err
	}
	r.emu = emu
	r.detail("%d servers Available (size c1-large, zones zone-a/zone-b)", r.Servers)
	return r.env.Client.Create(context.WithoutCancel(ctx), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}})
}

func (r *run) backend(ctx context.Context) error {
	o := &options.Backend{Name: options.BackendIronCore, MetalNamespace: Namespace, Timeout: 10 * time.Second,
		IPPools: []string{"internet=GlobalInClusterIPPool/internet"}, RestConfig: r.env.Config}
	c, err := o.NewClient(ctx)
	if err != nil {
		return err
	}
	r.metal = c
	r.detail("backend %s, namespace %s", c.Backend(), Namespace)
	return nil
}

// userData is a minimal Ignition config naming the host.
func userData(hostname string) []byte {
	return []byte(`{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/hostname","mode":420,"overwrite":true,"contents":{"source":"data:,` + hostname + `"}}]}}`)
}

func (r *run) allocate(ctx context.Context) error {
	for i := range r.Machines {
		name := fmt.Sprintf("worker-%d", i)
		m, err := r.metal.AllocateMachine(ctx, metal.MachineSpec{Name: name, Cluster: Cluster, Image: "gardenlinux-1877", Size: "c1-large",
			Hostname: "node-" + name, UserData: userData("node-" + name)})
		if err != nil {
			return err
		}
		r.detail("%s: claim %s/%s (%s)", name, Namespace, m.ID, m.ProviderID)
	}
	return nil
}

func (r *run) converge(ctx context.Context) error {
	seen := map[string]metal.MachineState{}
	nodes := map[string]bool{}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		ms, err := r.metal.ListMachines(ctx, Cluster)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if seen[m.ID] != m.State {
				seen[m.ID] = m.State
				switch m.State {
				case metal.MachineAllocated:
					r.detail("%s: bound to %s (%s, %s), powering on", m.ID, m.Server, m.Size, m.Partition)
				case metal.MachineRunning:
					r.detail("%s: %s powered on, booting", m.ID, m.Server)
				}
			}
			node := &corev1.Node{}
			if !nodes[m.ID] && r.env.Client.Get(ctx, client.ObjectKey{Name: m.Hostname}, node) == nil {
				nodes[m.ID] = true
				r.detail("%s: node %s registered (systemUUID %s, %s)", m.ID, node.Name, node.Status.NodeInfo.SystemUUID, addresses(node))
			}
		}
		if len(nodes) == r.Machines {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d nodes registered: %w", len(nodes), r.Machines, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func addresses(n *corev1.Node) string {
	var out []string
	for _, a := range n.Status.Addresses {
		out = append(out, string(a.Type)+"="+a.Address)
	}
	return strings.Join(out, " ")
}

func (r *run) stop() error {
	if r.emu != nil {
		r.stopFleet()
		<-r.emu.Done()
	}
	if r.env == nil {
		return nil
	}
	return r.env.Stop()
}
