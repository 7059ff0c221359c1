package framework_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalkube/metalkube/e2e/framework"
)

func TestScanLogs(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	userData := []byte(`{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/x","contents":{"source":"data:;base64,c2VjcmV0IHRva2VuOiA5ZjNhYzE3YjJlOGQ0NTBhOTZjMWUyZmQ3YjNhOGM0ZQo="}}]}}`)
	secrets := []framework.Secret{{Name: "admin key", Value: key}, {Name: "user data", Value: userData}}
	quoted, _ := json.Marshal(map[string]string{"msg": "oops", "key": string(key)})
	asBytes, _ := json.Marshal(map[string][]byte{"userData": userData})
	for name, tc := range map[string]struct {
		log  string
		want string
	}{
		"clean":               {`{"msg":"machine created","machine":"m1"}`, ""},
		"key, JSON-escaped":   {string(quoted), "admin key"},
		"key in kubeconfig":   {"client-key-data: " + base64.StdEncoding.EncodeToString(key), "admin key"},
		"user data as []byte": {string(asBytes), "user data"},
		"user data as text":   {"creating claim with " + string(userData), "user data"},
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "p.log")
			if err := os.WriteFile(f, []byte(tc.log), 0o600); err != nil {
				t.Fatal(err)
			}
			err := framework.ScanLogs([]string{f}, secrets)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("clean log reported: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("ScanLogs = %v, want %s found", err, tc.want)
			case err != nil && strings.Contains(err.Error(), string(key[40:60])):
				t.Fatalf("the report shows the secret: %v", err)
			}
		})
	}
}
