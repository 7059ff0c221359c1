package main

import (
	"strings"
	"testing"
	"time"
)

// TestRunRefusesBadInput checks that every missing or bad input is refused
// before Helm talks to a cluster, with an error naming the flag or path.
func TestRunRefusesBadInput(t *testing.T) {
	chart := t.TempDir() // no Chart.yaml
	ok := input{kubeconfig: "k.yaml", namespace: "ns", release: "r", home: t.TempDir(), chart: chart, timeout: time.Minute}
	for _, tc := range []struct {
		name string
		edit func(*input)
		want string
	}{
		{"no kubeconfig", func(in *input) { in.kubeconfig = "" }, "-kubeconfig is required"},
		{"no namespace", func(in *input) { in.namespace = "" }, "-namespace is required"},
		{"no release", func(in *input) { in.release = "" }, "-release is required"},
		{"no home", func(in *input) { in.home = "" }, "-home is required"},
		{"zero timeout", func(in *input) { in.timeout = 0 }, "-timeout 0s: must be positive"},
		{"not a chart", func(*input) {}, "load chart " + chart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.edit(&in)
			err := run(t.Context(), in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
