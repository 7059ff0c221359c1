package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/capi/app"
	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testenv"
)

// The Cluster API peers components/capi/hack/peers.sh builds, by their names
// in bin/.
const (
	peerCAPI             = "capi-manager"
	peerKubeadmBootstrap = "capi-kubeadm-bootstrap"
	peerKubeadmCP        = "capi-kubeadm-controlplane"
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

	certDir, err := os.MkdirTemp("", "capi-webhook-")
	if err != nil {
		return nil, err
	}
	env.BeforeStop(func() { _ = os.RemoveAll(certDir) })
	if err := writeServingCert(certDir); err != nil {
		return nil, err
	}
	start = time.Now()
	for _, name := range []string{peerCAPI, peerKubeadmBootstrap, peerKubeadmCP} {
		p, err := startCAPIPeer(ctx, name, certDir)
		if err != nil {
			return nil, err
		}
		b.logs = append(b.logs, p.Log)
	}
	fmt.Printf("cluster api: core, kubeadm bootstrap and control plane ready after %s\n", time.Since(start).Round(time.Second))

	cfg := &app.Config{Runtime: env.Runtime(app.Name), Metal: b.backend, Workers: 4, Poll: time.Second, Retry: 2 * time.Second}
	go func() {
		if err := app.Run(ctx, cfg); err != nil {
			fmt.Fprintf(os.Stderr, "capi provider stopped: %v\n", err)
		}
	}()
	return b, nil
}

// startCAPIPeer runs one of Cluster API's managers against the environment:
// no leader election, metrics off, its webhook server up (nothing calls
// it: the API server has no webhook configurations for it, so objects get
// their CRD defaults only) with a self-signed certificate.
func startCAPIPeer(ctx context.Context, name, certDir string) (*testenv.Peer, error) {
	health, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	hook, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(hook)
	return env.StartPeer(ctx, testenv.PeerSpec{Name: name, HealthAddr: health, Args: []string{
		"--health-addr=" + health, "--diagnostics-address=0", "--insecure-diagnostics",
		"--webhook-port=" + port, "--webhook-cert-dir=" + certDir,
		"--sync-period=1m", "--v=2",
	}})
}

// writeServingCert writes a self-signed certificate for localhost as
// tls.crt and tls.key into dir.
func writeServingCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func netipParse(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
