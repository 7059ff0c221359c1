package realnode

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"

	testpki "github.com/metalkube/metalkube/shared/testkit/pki"
)

// pki is the node's CA and the files it signed, in one directory.
type pki struct {
	dir string
	ca  *testpki.CA
}

// newPKI creates the node's CA in dir (ca.crt).
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := testpki.NewCA("metalkube-realnode-ca")
	if err != nil {
		return nil, err
	}
	p := &pki{dir: dir, ca: ca}
	return p, os.WriteFile(p.path("ca", "crt"), ca.PEM, 0o644)
}

// path is the file of a certificate or key: path("admin", "crt").
func (p *pki) path(name, ext string) string { return filepath.Join(p.dir, name+"."+ext) }

// issue writes name.crt and name.key (CA.Issue).
func (p *pki) issue(name, cn string, orgs []string, ips []net.IP, dns []string) error {
	kp, err := p.ca.Issue(cn, orgs, ips, dns)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.path(name, "crt"), kp.Cert, 0o644); err != nil {
		return err
	}
	return os.WriteFile(p.path(name, "key"), kp.Key, 0o600)
}

// serviceAccountKey writes the key pair that signs service account tokens
// (sa.key, sa.pub).
func (p *pki) serviceAccountKey() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.path("sa", "key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(p.path("sa", "pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

// kubeconfig writes a kubeconfig for the client certificate name.
func (p *pki) kubeconfig(name, server string) (string, error) {
	path := filepath.Join(p.dir, name+".kubeconfig")
	data := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: realnode
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: realnode
  context: {cluster: realnode, user: %s}
current-context: realnode
`, server, p.path("ca", "crt"), name, p.path(name, "crt"), p.path(name, "key"), name)
	return path, os.WriteFile(path, []byte(data), 0o600)
}
