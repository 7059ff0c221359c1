package integration

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/capi/app"
	"github.com/metalkube/metalkube/components/capi/test/capitest"
	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testenv"
)

// The test bed's fixed facts.
const (
	metalNamespace = "capi-metal"
	serverSize     = "capi-size"
	servers        = 4
	cpNetwork      = "control-plane"
)

// cpPrefix is the control-plane endpoint pool: the IPAM provider hands out
// its host addresses.
var cpPrefix = netip.MustParsePrefix("198.51.100.0/28")

// bed is the package's shared test bed: metal-operator, the fleet's
// hardware, the Cluster API managers and the provider, started once.
type bed struct {
	ctx     context.Context
	hw      *fleet.Hardware
	backend *ironcore.Backend
	logs    []string // peers' log files, shown when a test fails
}

var shared struct {
	once sync.Once
	bed  *bed
	err  error
}

// testBed starts the bed once; it lives until TestMain stops the environment.
func testBed(t *testing.T) *bed {
	t.Helper()
	shared.once.Do(func() { shared.bed, shared.err = startBed() })
	if shared.err != nil {
		t.Fatalf("test bed: %v", shared.err)
	}
	b := shared.bed
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range b.logs {
				data, _ := os.ReadFile(l)
				lines := strings.Split(string(data), "\n")
				t.Logf("last lines of %s:\n%s", l, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	return b
}

func startBed() (*bed, error) {
	ctx, cancel := context.WithCancel(context.Background())
	env.BeforeStop(cancel)
	c := env.Client
	for _, ns := range []string{"metal-operator-system", metalNamespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
	}
	mo, err := env.StartMetalOperator(ctx, "metal-operator-system")
	if err != nil {
		return nil, fmt.Errorf("metal-operator: %w", err)
	}
	b := &bed{ctx: ctx, logs: []string{mo.Log}}
	probe, err := testenv.PeerBinary(testenv.PeerMetalProbe)
	if err != nil {
		return nil, err
	}
	b.hw, err = fleet.NewHardware(env.Config, env.Config, fleet.HardwareConfig{
		// Nodes register as a kubelet with --cloud-provider=external does:
		// tainted until the ccm initializes them.
		Config:      fleet.Config{Servers: servers, Prefix: "capi", Sizes: []string{serverSize}, RegisterNodes: true, ExternalCloudProvider: true},
		RegistryURL: mo.RegistryURL, Probe: probe,
	})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := b.hw.Start(ctx, 5*time.Minute); err != nil {
		return nil, fmt.Errorf("fleet: %w (metal-operator's output: %s)", err, mo.Log)
	}
	fmt.Printf("fleet: %d servers Available after %s\n", servers, time.Since(start).Round(time.Second))

	pool := testenv.IPPool{Namespace: metalNamespace, Name: "cp", Prefix: cpPrefix}
	if err := env.CreateIPPools(ctx, pool); err != nil {
		return nil, err
	}
	mc, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, err
	}
	b.backend, err = ironcore.New(ironcore.Config{Client: mc, Namespace: metalNamespace, IPTimeout: time.Minute,
		Pools: map[string][]ironcore.PoolRef{cpNetwork: {pool.Ref()}}})
	if err != nil {
		return nil, err
	}

	start = time.Now()
	logs, err := capitest.Start(ctx, env, capitest.PeerCore, capitest.PeerKubeadmBootstrap, capitest.PeerKubeadmCP)
	if err != nil {
		return nil, err
	}
	b.logs = append(b.logs, logs...)
	fmt.Printf("cluster api: core, kubeadm bootstrap and control plane ready after %s\n", time.Since(start).Round(time.Second))

	// The provider logs into a file, shown with the peers' when a test fails.
	logFile, err := os.CreateTemp("", "capi-provider-*.log")
	if err != nil {
		return nil, err
	}
	env.BeforeStop(func() { _ = logFile.Close(); _ = os.Remove(logFile.Name()) })
	log, err := (&component.Logging{Format: component.LogFormatConsole, Level: "info"}).Logger(logFile)
	if err != nil {
		return nil, err
	}
	b.logs = append(b.logs, logFile.Name())
	cfg := &app.Config{Runtime: env.Runtime(app.Name), Metal: b.backend, Workers: 4, Poll: time.Second, Retry: 2 * time.Second}
	go func() {
		if err := app.Run(logr.NewContext(ctx, log), cfg); err != nil {
			fmt.Fprintf(os.Stderr, "capi provider stopped: %v\n", err)
		}
	}()
	return b, nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func netipParse(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
