package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

// TestDemo runs `make demo`'s walk without holding: the shoot comes up, gets
// deleted, and nothing leaks. (The e2e suite runs the same flow with the
// firewall step; the demo test leaves it out.)
func TestDemo(t *testing.T) {
	ctrl.SetLogger(logr.Discard()) // the fleet's, as in the demo command; the components log into LogDir
	var out bytes.Buffer
	err := Run(context.Background(), Options{Out: &out, Servers: 3, Workers: 2, LogDir: t.TempDir(), Firewall: FirewallOff})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"initialized by ccm", "LoadBalancer IP 192.0.2.", "the shoot is up. kubeconfig: ", "no ServerClaim, IP claim, Secret or Machine left"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
