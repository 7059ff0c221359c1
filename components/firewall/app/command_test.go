package app_test

import (
	"bytes"
	"context"
	"os"
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

// TestDryRunWithoutInterfaces: a policy can be reviewed on any machine; the
// ruleset names placeholders where interfaces are missing, and says so.
func TestDryRunWithoutInterfaces(t *testing.T) {
	cmd := app.NewCommand(context.Background())
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"--dry-run", "--policy-file=testdata/policies.yaml", "--node-cidrs=10.50.0.0/24"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{`"` + app.PlaceholderExternal + `"`, `"` + app.PlaceholderInternal + `"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ruleset lacks the placeholder %s:\n%s", want, out.String())
		}
		if !strings.Contains(errOut.String(), want+" in its place") {
			t.Errorf("no note about the placeholder %s: %q", want, errOut.String())
		}
	}
}

// TestFirewallNameDefault: not given, the FirewallStatus is named after the
// host; given empty, there is none; help does not show the host's name.
func TestFirewallNameDefault(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		set  bool
		flag string
		want string
	}{{false, "", host}, {true, "", ""}, {true, "fw-1", "fw-1"}} {
		o := app.NewOptions()
		o.FirewallName = tc.flag
		if err := o.DefaultFirewallName(tc.set); err != nil {
			t.Fatal(err)
		}
		if o.FirewallName != tc.want {
			t.Errorf("set=%v flag %q: name %q, want %q", tc.set, tc.flag, o.FirewallName, tc.want)
		}
	}
	var help bytes.Buffer
	cmd := app.NewCommand(context.Background())
	cmd.SetOut(&help)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(help.String(), `(default "`+host+`")`) {
		t.Errorf("help shows this host's name as a default:\n%s", help.String())
	}
}

func TestValidate(t *testing.T) {
	base := []string{"--external-interfaces=ext0", "--internal-interfaces=int0", "--node-cidrs=10.50.0.0/24", "--dry-run", "--policy-file=testdata/policies.yaml"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no interfaces", []string{"--node-cidrs=10.0.0.0/24"}, "--external-interfaces and --internal-interfaces are required"},
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
