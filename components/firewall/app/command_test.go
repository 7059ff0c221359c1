package app_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalkube/metalkube/components/firewall/app"
	"github.com/metalkube/metalkube/shared/testkit"
)

func TestDryRun(t *testing.T) {
	cmd := app.NewCommand(context.Background())
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"--dry-run", "--policy-file=testdata/policies.yaml",
		"--external-interfaces=ext0", "--internal-interfaces=int0",
		"--node-cidrs=10.50.0.0/24,fd00:50::/64", "--pod-cidrs=10.244.0.0/16",
		"--snat=ext0=203.0.113.1", "--rate-limits=ext0=1000", "--allowed-egress-networks=0.0.0.0/0"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "policy firewall/broken ignored: egress[0]: ports[0]: port 0 out of range 1-65535") {
		t.Errorf("ignored policy not reported: %q", errOut.String())
	}
	path := filepath.Join("testdata", "dry-run.nft")
	testkit.Golden(t, path, out.Bytes())
}

func TestValidate(t *testing.T) {
	base := []string{"--external-interfaces=ext0", "--internal-interfaces=int0", "--node-cidrs=10.50.0.0/24", "--dry-run", "--policy-file=testdata/policies.yaml"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no interfaces", []string{"--node-cidrs=10.0.0.0/24", "--dry-run"}, "--external-interfaces and --internal-interfaces are required"},
		{"no node cidrs", []string{"--external-interfaces=a", "--internal-interfaces=b"}, "--node-cidrs is required"},
		{"bad cidr", append(base, "--pod-cidrs=10.0.0.0/33"), "--pod-cidrs"},
		{"bad snat", append(base, "--snat=ext0=nope"), "--snat"},
		{"bad rate", append(base, "--rate-limits=ext0"), "--rate-limits"},
		{"policy file without dry run", []string{"--external-interfaces=a", "--internal-interfaces=b", "--node-cidrs=10.0.0.0/24", "--policy-file=x"}, "needs --dry-run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := app.NewCommand(context.Background())
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
