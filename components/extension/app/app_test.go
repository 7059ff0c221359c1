package app

import (
	"context"
	"strings"
	"testing"

	"github.com/metalkube/metalkube/shared/options"
)

func TestCommandsBuildAndParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"extension", []string{"--controllers=infrastructure,worker", "--disable-controllers=heartbeat", "--ccm-image=img:1", "--webhook-config-mode=url"}},
		{"admission", []string{"--disable-webhooks=mutator", "--webhook-config-server-port=9443"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := NewCommand(context.Background())
			if tc.name == "admission" {
				cmd = NewAdmissionCommand(context.Background())
			}
			if cmd.Use != tc.name {
				t.Fatalf("Use = %q", cmd.Use)
			}
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnknownControllerIsRejected(t *testing.T) {
	sw := ControllerSwitches(&Config{})
	sw.Enabled = []string{"infrastructure", "dnsrecord"}
	err := sw.Complete()
	if err == nil || !strings.Contains(err.Error(), "dnsrecord") {
		t.Fatalf("err = %v, want unknown controller dnsrecord", err)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	o := ControllerOptions{MaxConcurrentReconciles: 0, CCMImage: "x", MCMImage: "y", HealthCheckSyncPeriod: 1, HeartbeatRenewInterval: 1e9}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--"+FlagMaxConcurrentReconciles) {
		t.Fatalf("err = %v", err)
	}
}

// TestExtensionHasNoBackendFlags: the extension calls each shoot's backend
// with that shoot's cloudprovider Secret; it has no backend of its own that
// an operator could set and the shoots would silently not use.
func TestExtensionHasNoBackendFlags(t *testing.T) {
	fs := NewCommand(context.Background()).Flags()
	for _, f := range []string{options.FlagBackend, options.FlagMetalKubeconfig, options.FlagMetalNamespace, options.FlagIPPools,
		options.FlagMetalAPIURL, options.FlagMetalProject, options.FlagMetalPartition} {
		if fs.Lookup(f) != nil {
			t.Errorf("metalkube extension has --%s", f)
		}
	}
}
