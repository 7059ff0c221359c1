package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestApplyConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.yaml")
	if err := os.WriteFile(path, []byte("metal-cluster: from-file\nlb-network: public\nnode-label-prefix: [a/, b/]\nmachine-cache-ttl: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &Options{}
	fs := pflag.NewFlagSet("ccm", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--lb-network=from-flag"}); err != nil {
		t.Fatal(err)
	}
	if err := ApplyConfigFile(fs, path); err != nil {
		t.Fatal(err)
	}
	if o.Cluster != "from-file" || o.LB.Network != "from-flag" || strings.Join(o.LabelPrefixes, ",") != "a/,b/" || o.CacheTTL.String() != "3s" {
		t.Errorf("options %+v: want file values where no flag was given", o)
	}
	if err := os.WriteFile(path, []byte("no-such-flag: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ApplyConfigFile(fs, path); err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("unknown key: err = %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no cluster", nil, "--metal-cluster is required"},
		{"pod CIDR pairs", []string{"--metal-cluster=c", "--pod-cidr-node-network=10.0.0.0/16"}, "same number of times"},
		{"pod CIDR families", []string{"--metal-cluster=c", "--pod-cidr-node-network=10.0.0.0/16", "--pod-cidr-cluster-cidr=fd00::/48"}, "different IP families"},
		{"announce mode", []string{"--metal-cluster=c", "--announce=bird"}, "--announce"},
		{"lb service workers", []string{"--metal-cluster=c", "--lb-service-workers=-1"}, "--lb-service-workers=-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &Options{}
			fs := pflag.NewFlagSet("ccm", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := o.Validate(true); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}
