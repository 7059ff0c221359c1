package options

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/metalapi"
)

func metalAPI(t *testing.T) *metalapi.Emulator {
	t.Helper()
	e := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000beef", "part-1", "s1", 1),
		Networks: []metalapi.Network{{ID: "internet", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28")}, Shared: true}},
		Projects: []string{"proj-1"},
		HMAC:     map[string]string{"Metal-Edit": "right-key"},
		Token:    "right-token",
	})
	t.Cleanup(e.Close)
	return e
}

// parse binds the backend flags and parses args, as a component would.
func parse(t *testing.T, args ...string) *Backend {
	t.Helper()
	o := &Backend{}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMetalStackBackend(t *testing.T) {
	e := metalAPI(t)
	for _, env := range append(append(EnvMetalAPIURL, EnvMetalAPIHMAC...), EnvMetalAPIToken...) {
		t.Setenv(env, "")
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		// wantErr fragments; none means NewClient must succeed.
		wantErr []string
		kind    error
	}{
		{name: "hmac from a file", args: []string{"--backend=metalstack", "--metal-api-url=" + e.URL(), "--metal-project=proj-1",
			"--metal-partition=part-1", "--metal-api-hmac-auth-type=Metal-Edit", "--metal-api-hmac-file=" + secretFile(t, "right-key")}},
		{name: "token from the environment", args: []string{"--backend=metalstack", "--metal-project=proj-1"},
			env: map[string]string{"METAL_API_URL": e.URL(), "METAL_AUTH_TOKEN": "right-token"}},
		{name: "metalctl's environment", args: []string{"--backend=metalstack", "--metal-project=proj-1", "--metal-api-hmac-auth-type=Metal-Edit"},
			env: map[string]string{"METALCTL_URL": e.URL(), "METALCTL_HMAC": "right-key"}},
		{name: "wrong hmac key names the URL", args: []string{"--backend=metalstack", "--metal-api-url=" + e.URL(), "--metal-project=proj-1",
			"--metal-api-hmac-auth-type=Metal-Edit", "--metal-api-hmac-file=" + secretFile(t, "wrong-key")},
			wantErr: []string{e.URL(), "credentials rejected"}, kind: metalstack.ErrUnauthorized},
		{name: "wrong token names the URL", args: []string{"--backend=metalstack", "--metal-api-url=" + e.URL(), "--metal-project=proj-1",
			"--metal-api-token-file=" + secretFile(t, "wrong-token")},
			wantErr: []string{e.URL(), "401"}, kind: metal.ErrInvalid},
		{name: "unreachable API names the URL", args: []string{"--backend=metalstack", "--metal-api-url=http://127.0.0.1:1", "--metal-project=proj-1",
			"--metal-api-token-file=" + secretFile(t, "right-token")},
			wantErr: []string{"http://127.0.0.1:1"}, kind: metal.ErrUnavailable},
		{name: "unknown project", args: []string{"--backend=metalstack", "--metal-api-url=" + e.URL(), "--metal-project=proj-9",
			"--metal-api-token-file=" + secretFile(t, "right-token")},
			wantErr: []string{e.URL(), "proj-9"}, kind: metal.ErrInvalid},
		{name: "no credentials", args: []string{"--backend=metalstack", "--metal-api-url=" + e.URL(), "--metal-project=proj-1"},
			wantErr: []string{"--metal-api-hmac-file", "METAL_AUTH_TOKEN"}},
		{name: "missing credential file", args: []string{"--backend=metalstack", "--metal-api-url=" + e.URL(), "--metal-project=proj-1",
			"--metal-api-token-file=/nonexistent/token"}, wantErr: []string{"--metal-api-token-file", "/nonexistent/token"}},
		{name: "no URL, no project", args: []string{"--backend=metalstack"}, wantErr: []string{"--metal-api-url", "--metal-project"}},
		{name: "both credential files", args: []string{"--backend=metalstack", "--metal-api-url=" + e.URL(), "--metal-project=proj-1",
			"--metal-api-token-file=a", "--metal-api-hmac-file=b"}, wantErr: []string{"choose one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o := parse(t, tt.args...)
			c, err := o.NewClient(context.Background())
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("NewClient: %v", err)
				}
				if c.Backend() != metalstack.BackendName {
					t.Errorf("backend %s, want %s", c.Backend(), metalstack.BackendName)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewClient succeeded, want an error mentioning %v", tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			if strings.Contains(err.Error(), "wrong-key") || strings.Contains(err.Error(), "wrong-token") {
				t.Errorf("error leaks the credential: %v", err)
			}
		})
	}
}

func TestIronCoreFlagsStillDefault(t *testing.T) {
	o := parse(t)
	if o.Name != BackendIronCore || o.MetalNamespace != "default" {
		t.Errorf("defaults: backend %q namespace %q, want ironcore/default", o.Name, o.MetalNamespace)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("default flags do not validate: %v", err)
	}
}
