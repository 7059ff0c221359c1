package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs the demo's walk end to end and checks what it reports.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Out: &out, Servers: 4, Machines: 3}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"node node-worker-0 registered", "node node-worker-2 registered", "done: 3 machines running as nodes", "kubeconfig: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
