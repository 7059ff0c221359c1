package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/metalkube/metalkube/components/lb/app"
)

func TestCommandValidatesFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no cluster", nil, "--metal-cluster is required"},
		{"bad mode", []string{"--metal-cluster=c", "--announce=bird"}, "--announce=\"bird\""},
		{"bad peer", []string{"--metal-cluster=c", "--bgp-peer-address=router"}, "--bgp-peer-address"},
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
