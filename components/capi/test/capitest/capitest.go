package capitest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit/pki"
)

// The Cluster API managers components/capi/hack/peers.sh builds, by their
// names in bin/.
const (
	PeerCore             = "capi-manager"
	PeerKubeadmBootstrap = "capi-kubeadm-bootstrap"
	PeerKubeadmCP        = "capi-kubeadm-controlplane"
)

// Start runs the named Cluster API managers against env, each without leader
// election or metrics, with its webhook server up on a throwaway
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

// writeServingCert writes a certificate for localhost as tls.crt and
// tls.key into dir (the webhook servers' serving certificate).
func writeServingCert(dir string) error {
	ca, err := pki.NewCA("capitest-webhook-ca")
	if err != nil {
		return err
	}
	kp, err := ca.Issue("localhost", nil, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), kp.Cert, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), kp.Key, 0o600)
}
