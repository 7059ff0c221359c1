package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/metalkube/metalkube/components/mcm/app"
)

func TestCommandFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr []string // substrings of the error; none: valid
	}{
		{name: "defaults", args: nil},
		{name: "backend flags", args: []string{"--backend=ironcore", "--metal-namespace=metal", "--ip-pool=internet=GlobalInClusterIPPool/public",
			"--namespace=shoot--p--c", "--target-kubeconfig=/tmp/kc", "--machine-initialize-timeout=20s", "--csi-driver=lvm.csi.metal-stack.io"}},
		{name: "unknown backend", args: []string{"--backend=nope"}, wantErr: []string{"--backend"}},
		{name: "bad timeouts", args: []string{"--machine-initialize-timeout=0s", "--machine-release-timeout=-1s"},
			wantErr: []string{"--machine-initialize-timeout", "--machine-release-timeout"}},
		{name: "mcm option", args: []string{"--concurrent-syncs=0"}, wantErr: []string{"concurrent syncs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The command binds its flags without collisions and accepts them.
			cmd := app.NewCommand(context.Background())
			if err := cmd.Flags().Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			fs := newFlagSet()
			o := app.NewOptions()
			o.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %v", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func newFlagSet() *pflag.FlagSet { return pflag.NewFlagSet("mcm", pflag.ContinueOnError) }
