package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"testing"
)

// TestIssue checks that issued certificates chain to the CA for the uses
// they are issued for: a client certificate for client authentication only,
// with its groups; a serving one for its names and addresses too.
func TestIssue(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.PEM) {
		t.Fatal("CA PEM does not parse")
	}
	tests := []struct {
		name        string
		orgs        []string
		ips         []net.IP
		dns         []string
		verifyName  string
		serverUsage bool
	}{
		{name: "client", orgs: []string{"system:masters"}},
		{name: "serving by IP", ips: []net.IP{net.IPv4(127, 0, 0, 1)}, verifyName: "127.0.0.1", serverUsage: true},
		{name: "serving by name", dns: []string{"svc.ns.svc"}, verifyName: "svc.ns.svc", serverUsage: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := ca.Issue(tc.name, tc.orgs, tc.ips, tc.dns)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(kp.Cert, kp.Key)
			if err != nil {
				t.Fatalf("certificate and key do not match: %v", err)
			}
			cert, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cert.Subject.Organization, tc.orgs) {
				t.Errorf("organizations %v, want %v", cert.Subject.Organization, tc.orgs)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client use: %v", err)
			}
			_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: tc.verifyName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if tc.serverUsage && err != nil {
				t.Errorf("server use for %s: %v", tc.verifyName, err)
			}
			if !tc.serverUsage && err == nil {
				t.Error("a client certificate verifies for server use")
			}
		})
	}
	other, err := NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := other.Issue("stranger", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(kp.Cert, kp.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("a certificate of another CA verifies")
	}
}
