package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/metalkube/metalkube/shared/testkit/ports"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/metal/ironcore"
)

// The peers `make testbin` builds (hack/peers.sh), by their names in bin/.
const (
	// PeerIPAM is the Cluster API in-cluster IPAM provider.
	PeerIPAM = "ipam-in-cluster"
	// PeerMetalOperator is metal-operator's manager.
	PeerMetalOperator = "metal-operator"
	// PeerMetalProbe is metal-operator's probe agent.
	PeerMetalProbe = "metalprobe"
)

// Peer is a real peer controller running as a process against an environment.
type Peer struct {
	Name string
	// Log is the file the process writes its output to.
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// PeerBinary returns the path of a peer built by `make testbin`.
func PeerBinary(name string) (string, error) {
	bin, err := BinDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(bin, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("peer %s missing in %s: run `make testbin` (builds it from the Go module proxy)", name, bin)
	}
	return p, nil
}

// PeerSpec says how to run a peer.
type PeerSpec struct {
	// Name of the binary in bin/.
	Name string
	// HealthAddr is where the peer serves /readyz; empty: not waited for.
	HealthAddr string
	// HealthCA, if set, is the CA of the peer's serving certificate: /readyz
	// is then asked over HTTPS.
	HealthCA []byte
	// Env is added to the environment; Args are the arguments.
	Env, Args []string
}

// StartPeer runs a peer binary against the environment (its kubeconfig in
// $KUBECONFIG), waits until its health endpoint answers /readyz, and stops
// it when the environment stops, before the control plane.
func (e *Env) StartPeer(ctx context.Context, spec PeerSpec) (*Peer, error) {
	name, healthAddr := spec.Name, spec.HealthAddr
	path, err := PeerBinary(name)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(e.dir, name+".log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, spec.Args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+e.Kubeconfig), spec.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start peer %s: %w", name, err)
	}
	p := &Peer{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = out.Close()
		close(p.done)
	}()
	e.BeforeStop(p.Stop)
	if healthAddr == "" {
		return p, nil
	}
	hc, scheme := http.DefaultClient, "http"
	if spec.HealthCA != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(spec.HealthCA)
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		scheme = "https"
	}
	if err := p.waitReady(ctx, hc, scheme+"://"+healthAddr+"/readyz"); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Peer) waitReady(ctx context.Context, hc *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("peer %s exited (%v); its output is in %s", p.Name, p.err, p.Log)
		case <-ctx.Done():
			return fmt.Errorf("peer %s not ready at %s: %w; its output is in %s", p.Name, url, ctx.Err(), p.Log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop terminates the peer and waits for it to exit.
func (p *Peer) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Done is closed when the peer has exited.
func (p *Peer) Done() <-chan struct{} { return p.done }

// FreeAddr returns a loopback address with a port that is free and handed
// out to no one else (see package ports).
func FreeAddr() (string, error) { return ports.Addr() }

// StartIPAM starts the Cluster API in-cluster IPAM provider against the
// environment (which needs the ClusterAPIIPAM and InClusterIPAM CRD sets),
// without webhooks, metrics or leader election.
func (e *Env) StartIPAM(ctx context.Context) (*Peer, error) {
	health, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	return e.StartPeer(ctx, PeerSpec{Name: PeerIPAM, HealthAddr: health, Args: []string{
		"--webhook-port=0", "--health-probe-bind-address=" + health, "--diagnostics-address=0", "--insecure-diagnostics"}})
}

// MetalOperatorPeer is a running metal-operator manager.
type MetalOperatorPeer struct {
	*Peer
	// RegistryURL is where its discovery registry listens; the probe agent
	// posts there.
	RegistryURL string
	// Namespace holds its discovery boot configurations.
	Namespace string
}

// StartMetalOperator starts metal-operator's manager against the environment
// (which needs the MetalOperator CRD set): webhooks off, BMCs over plain
// HTTP, its discovery registry on a free loopback port, short polling
// intervals, discovery boot configurations in namespace (which must exist).
func (e *Env) StartMetalOperator(ctx context.Context, namespace string) (*MetalOperatorPeer, error) {
	dir, err := ModuleDir("github.com/ironcore-dev/metal-operator", "")
	if err != nil {
		return nil, err
	}
	health, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	registry, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	events, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	_, registryPort, _ := net.SplitHostPort(registry)
	_, eventPort, _ := net.SplitHostPort(events)
	url := "http://" + registry
	p, err := e.StartPeer(ctx, PeerSpec{Name: PeerMetalOperator, HealthAddr: health, Env: []string{"ENABLE_WEBHOOKS=false"}, Args: []string{
		"--health-probe-bind-address=" + health, "--metrics-bind-address=0", "--leader-elect=false",
		"--protocol=http", "--registry-url=" + url, "--registry-port=" + registryPort, "--event-port=" + eventPort,
		"--manager-namespace=" + namespace,
		"--discovery-ignition-path=" + filepath.Join(dir, "config/manager/ignition-template.yaml"),
		// The images of the discovery boot: nothing pulls them here, the
		// fleet runs the probe agent itself.
		"--probe-image=metalprobe", "--probe-os-image=discovery-os",
		"--resource-polling-interval=200ms", "--power-polling-interval=200ms", "--registry-resync-interval=200ms",
		"--server-resync-interval=5s", "--maintenance-resync-interval=5s",
	}})
	if err != nil {
		return nil, err
	}
	return &MetalOperatorPeer{Peer: p, RegistryURL: url, Namespace: namespace}, nil
}

// IPPoolAPIGroup is the API group of the in-cluster IPAM provider's pools.
const IPPoolAPIGroup = "ipam.cluster.x-k8s.io"

// IPPool is a pool of the in-cluster IPAM provider: one prefix, as the
// provider's pools have. Namespace empty means a GlobalInClusterIPPool.
type IPPool struct {
	Namespace, Name string
	Prefix          netip.Prefix
}

// Kind returns the pool's kind.
func (p IPPool) Kind() string {
	if p.Namespace == "" {
		return "GlobalInClusterIPPool"
	}
	return "InClusterIPPool"
}

// Ref returns the pool's reference for the ironcore backend.
func (p IPPool) Ref() ironcore.PoolRef {
	return ironcore.PoolRef{APIGroup: IPPoolAPIGroup, Kind: p.Kind(), Name: p.Name}
}

// CreateIPPools creates (or leaves in place) the given pools, each handing out
// its prefix's host addresses.
func (e *Env) CreateIPPools(ctx context.Context, pools ...IPPool) error {
	for _, p := range pools {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: IPPoolAPIGroup, Version: "v1alpha2", Kind: p.Kind()})
		u.SetNamespace(p.Namespace)
		u.SetName(p.Name)
		spec := map[string]any{
			"addresses": []any{p.Prefix.Masked().String()},
			"prefix":    int64(p.Prefix.Bits()),
		}
		if err := unstructured.SetNestedField(u.Object, spec, "spec"); err != nil {
			return err
		}
		if err := e.Client.Create(ctx, u); client.IgnoreAlreadyExists(err) != nil {
			return fmt.Errorf("create %s %s: %w", p.Kind(), p.Name, err)
		}
	}
	return nil
}

// Running reports an error when the peer has exited.
func (p *Peer) Running() error {
	select {
	case <-p.done:
		return fmt.Errorf("peer %s is not running (%v); its output is in %s", p.Name, p.err, p.Log)
	default:
		return nil
	}
}
