package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/metalkube/metalkube/components/capi/app"
)

func TestCommandValidatesFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"webhook port", []string{"--webhook-port=70000"}, "--webhook-port=70000"},
		{"no workers", []string{"--machine-concurrency=0"}, "--machine-concurrency=0: must be at least 1"},
		{"poll interval", []string{"--poll-interval=0s"}, "--poll-interval=0s: must be positive"},
		{"retry interval", []string{"--retry-interval=-1s"}, "--retry-interval=-1s: must be positive"},
		{"backend", []string{"--backend=openstack"}, "openstack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := app.NewCommand(context.Background())
			cmd.SetArgs(tc.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
