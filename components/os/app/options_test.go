package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
	"github.com/metalkube/metalkube/components/os/app"
	"github.com/metalkube/metalkube/shared/component"
)

func parse(t *testing.T, args ...string) *app.Options {
	t.Helper()
	o := app.NewOptions()
	fs := pflag.NewFlagSet("os", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"defaults", nil, nil},
		{"custom formats", []string{"--" + app.FlagTypes + "=ubuntu,talos", "--" + app.FlagFormats + "=talos=ignition,ubuntu=cloud-init", "--" + app.FlagDefaultFormat + "=ignition"}, nil},
		{"unknown format", []string{"--" + app.FlagFormats + "=flatcar=butane"}, []string{"--formats", "flatcar", "butane"}},
		{"unknown default format", []string{"--" + app.FlagDefaultFormat + "=yaml"}, []string{"--default-format"}},
		{"no types", []string{"--" + app.FlagTypes + "="}, []string{"--types is empty"}},
		{"no parallelism", []string{"--" + app.FlagMaxConcurrentReconciles + "=0"}, []string{"--max-concurrent-reconciles"}},
		{"unknown class", []string{"--" + app.FlagExtensionClasses + "=shoot,planet"}, []string{`unknown class "planet"`}},
		{"no lease name", []string{"--" + component.FlagLeaderElectionID + "="}, []string{"--leader-election-id"}},
		{"no lease name without election", []string{"--" + component.FlagLeaderElectionID + "=", "--" + component.FlagLeaderElect + "=false"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := parse(t, tc.args...).Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestComplete(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	o := parse(t, "--"+component.FlagKubeconfig+"="+kubeconfig, "--"+app.FlagFormats+"=ubuntu=ignition", "--"+component.FlagLeaderElectionNamespace+"=garden",
		"--"+component.FlagMetricsBindAddress+"=:9090", "--"+app.FlagIgnoreOperationAnnotation)
	cfg, err := o.Complete()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Runtime.REST.Host != "https://127.0.0.1:6443" {
		t.Errorf("REST host %q", cfg.Runtime.REST.Host)
	}
	m := cfg.Runtime.ManagerOptions(nil)
	if !m.LeaderElection || m.LeaderElectionID != "metalkube-os" || m.LeaderElectionNamespace != "garden" || m.Metrics.BindAddress != ":9090" || m.HealthProbeBindAddress != ":8081" ||
		!m.LeaderElectionReleaseOnCancel || *m.LeaseDuration != component.DefaultLeaseDuration {
		t.Errorf("manager options %+v", m)
	}
	a := cfg.Add
	if strings.Join(a.Types, ",") != "ubuntu,debian,flatcar,gardenlinux" || a.Formats["ubuntu"] != v1alpha1.FormatIgnition || a.Formats["ubuntu"] == "" ||
		a.DefaultFormat != v1alpha1.FormatCloudInit || !a.IgnoreOperationAnnotation || a.Controller.MaxConcurrentReconciles != 5 {
		t.Errorf("add options %+v", a)
	}
	// --formats adds to the defaults.
	if a.Formats["flatcar"] != v1alpha1.FormatIgnition || a.Formats["gardenlinux"] != v1alpha1.FormatIgnition {
		t.Errorf("formats %v lost the defaults", a.Formats)
	}
}

func TestCommandHelp(t *testing.T) {
	cmd := app.NewCommand(context.Background())
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{component.FlagKubeconfig, component.FlagLeaderElect, component.FlagMetricsBindAddress, component.FlagHealthProbeBindAddress, app.FlagTypes, app.FlagFormats} {
		if !strings.Contains(out.String(), "--"+f) {
			t.Errorf("help lacks --%s", f)
		}
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	cmd := app.NewCommand(context.Background())
	cmd.SetArgs([]string{"--" + app.FlagDefaultFormat + "=yaml"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--default-format") {
		t.Fatalf("Execute = %v, want a --default-format error", err)
	}
}
