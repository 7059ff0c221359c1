package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/metalkube/metalkube/components/csi/app"
)

func TestCommandValidatesFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no devices", nil, "--devices is required"},
		{"bad volume group", []string{"--devices=/dev/sdz", "--volume-group=-vg"}, `--volume-group="-vg"`},
		{"bad activation", []string{"--devices=/dev/sdz", "--activation=zfs"}, `--activation="zfs"`},
		{"bad role", []string{"--role=central"}, `--role="central": want node or controller`},
		{"no device matches", []string{"--devices=/nonexistent/disk*", "--activation=loop"}, "match no device"},
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
