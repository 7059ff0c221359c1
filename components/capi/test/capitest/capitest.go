package capitest

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
	"os"
	"path/filepath"
	"time"

	"github.com/metalkube/metalkube/shared/testenv"
)

// The Cluster API managers components/capi/hack/peers.sh builds, by their
// names in bin/.
const (
	PeerCore             = "capi-manager"
	PeerKubeadmBootstrap = "capi-kubeadm-bootstrap"
	PeerKubeadmCP        = "capi-kubeadm-controlplane"
)

// Start runs the named Cluster API managers against env, each without leader
// election or metrics, with its webhook server up on a self-signed
// certificate (nothing calls it: the API server has no webhook
// configurations for them, so objects get their CRD defaults only), and
// waits until each is ready. They stop with the environment; their log
// files are returned.
func Start(ctx context.Context, env *testenv.Env, names ...string) ([]string, error) {
	certDir, err := os.MkdirTemp("", "capi-webhook-")
	if err != nil {
		return nil, err
	}
	env.BeforeStop(func() { _ = os.RemoveAll(certDir) })
	if err := writeServingCert(certDir); err != nil {
		return nil, err
	}
	var logs []string
	for _, name := range names {
		health, err := testenv.FreeAddr()
		if err != nil {
			return nil, err
		}
		hook, err := testenv.FreeAddr()
		if err != nil {
			return nil, err
		}
		_, port, _ := net.SplitHostPort(hook)
		p, err := env.StartPeer(ctx, testenv.PeerSpec{Name: name, HealthAddr: health, Args: []string{
			"--health-addr=" + health, "--diagnostics-address=0", "--insecure-diagnostics",
			"--webhook-port=" + port, "--webhook-cert-dir=" + certDir,
			"--sync-period=1m", "--v=2",
		}})
		if err != nil {
			return nil, fmt.Errorf("cluster api %s: %w", name, err)
		}
		logs = append(logs, p.Log)
	}
	return logs, nil
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
