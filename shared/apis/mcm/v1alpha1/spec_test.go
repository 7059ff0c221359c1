package v1alpha1_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/metalkube/metalkube/shared/apis/mcm/v1alpha1"
)

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		// wantErrs are the field paths expected in the error, in order; none: valid.
		wantErrs []string
		check    func(*testing.T, *v1alpha1.ProviderSpec)
	}{
		{
			name: "minimal spec is defaulted",
			raw:  `{"image":"flatcar"}`,
			check: func(t *testing.T, s *v1alpha1.ProviderSpec) {
				if s.Cluster != "shoot--p--c" || s.APIVersion != "mcm.metalkube.io/v1alpha1" || s.Kind != "ProviderSpec" {
					t.Errorf("defaults not applied: %+v", s)
				}
			},
		},
		{
			name: "full spec",
			raw: `{"apiVersion":"mcm.metalkube.io/v1alpha1","kind":"ProviderSpec","image":"flatcar","size":"c1-large","partition":"zone-a",
				"serverLabels":{"rack":"r1"},"networks":["internal"],"ipAddresses":[{"network":"internet"}],"sshKeys":["` + key + `"],
				"tags":{"team":"infra"},"cluster":"other"}`,
			check: func(t *testing.T, s *v1alpha1.ProviderSpec) {
				if s.Cluster != "other" || s.Size != "c1-large" || s.IPAddresses[0].Network != "internet" || s.ServerLabels["rack"] != "r1" {
					t.Errorf("spec decoded wrong: %+v", s)
				}
			},
		},
		{name: "empty", raw: ``, wantErrs: []string{"providerSpec"}},
		{name: "not JSON", raw: `image: x`, wantErrs: []string{"providerSpec"}},
		{name: "unknown field", raw: `{"image":"x","imagee":"y"}`, wantErrs: []string{"providerSpec.imagee"}},
		{name: "duplicate key", raw: `{"image":"x","image":"y"}`, wantErrs: []string{"providerSpec.image"}},
		{name: "duplicate nested key", raw: `{"image":"x","ipAddresses":[{"network":"a","network":"b"}]}`, wantErrs: []string{"providerSpec.ipAddresses[0].network"}},
		{name: "trailing data", raw: `{"image":"x"} {"image":"y"}`, wantErrs: []string{"providerSpec"}},
		{name: "key in another case", raw: `{"Image":"x"}`, wantErrs: []string{"providerSpec.Image"}},
		{name: "wrong type", raw: `{"image":"x","networks":"internal"}`, wantErrs: []string{"providerSpec.networks"}},
		{name: "image missing", raw: `{"size":"c1"}`, wantErrs: []string{"providerSpec.image"}},
		{name: "wrong apiVersion", raw: `{"apiVersion":"v1","image":"x"}`, wantErrs: []string{"providerSpec.apiVersion"}},
		{name: "wrong kind", raw: `{"kind":"AWSMachineClass","image":"x"}`, wantErrs: []string{"providerSpec.kind"}},
		{name: "bad size", raw: `{"image":"x","size":"c1 large"}`, wantErrs: []string{"providerSpec.size"}},
		{name: "bad server label key", raw: `{"image":"x","serverLabels":{"bad key":"v"}}`, wantErrs: []string{"providerSpec.serverLabels"}},
		{name: "bad server label value", raw: `{"image":"x","serverLabels":{"rack":"r 1"}}`, wantErrs: []string{"providerSpec.serverLabels"}},
		{name: "duplicate network", raw: `{"image":"x","networks":["a","a"]}`, wantErrs: []string{"providerSpec.networks[1]"}},
		{name: "empty network", raw: `{"image":"x","networks":[""]}`, wantErrs: []string{"providerSpec.networks[0]"}},
		{name: "ip without network", raw: `{"image":"x","ipAddresses":[{}]}`, wantErrs: []string{"providerSpec.ipAddresses[0].network"}},
		{name: "duplicate ip network", raw: `{"image":"x","ipAddresses":[{"network":"a"},{"network":"a"}]}`, wantErrs: []string{"providerSpec.ipAddresses[1].network"}},
		{name: "bad ssh key", raw: `{"image":"x","sshKeys":["` + key + `","not-a-key"]}`, wantErrs: []string{"providerSpec.sshKeys[1]"}},
		{name: "unknown ssh key type", raw: `{"image":"x","sshKeys":["ssh-dss AAAA"]}`, wantErrs: []string{"providerSpec.sshKeys[0]"}},
		{name: "reserved tag", raw: `{"image":"x","tags":{"mcm.metalkube.io/machine":"y"}}`, wantErrs: []string{"providerSpec.tags[mcm.metalkube.io/machine]"}},
		{name: "bad cluster", raw: `{"image":"x","cluster":"-bad-"}`, wantErrs: []string{"providerSpec.cluster"}},
		{name: "several errors at once", raw: `{"size":"a b","networks":[""]}`, wantErrs: []string{"providerSpec.image", "providerSpec.size", "providerSpec.networks[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, errs := v1alpha1.Parse([]byte(tc.raw), "shoot--p--c")
			if len(tc.wantErrs) == 0 {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs.ToAggregate())
				}
				tc.check(t, spec)
				return
			}
			if len(errs) != len(tc.wantErrs) {
				t.Fatalf("got %d errors (%v), want %d at %v", len(errs), errs.ToAggregate(), len(tc.wantErrs), tc.wantErrs)
			}
			for i, e := range errs {
				if e.Field != tc.wantErrs[i] {
					t.Errorf("error %d at %q (%v), want %q", i, e.Field, e, tc.wantErrs[i])
				}
				if !strings.HasPrefix(e.Error(), tc.wantErrs[i]) {
					t.Errorf("error %q does not start with its field path", e.Error())
				}
			}
		})
	}
}

// FuzzParse: Parse never panics; every error names a field under
// providerSpec; an accepted spec survives a round trip through JSON
// unchanged and valid.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"image":"flatcar"}`))
	f.Add([]byte(`{"apiVersion":"mcm.metalkube.io/v1alpha1","kind":"ProviderSpec","image":"flatcar","size":"c1-large","partition":"zone-a","serverLabels":{"rack":"r1"},"networks":["internal"],"ipAddresses":[{"network":"internet"}],"sshKeys":["` + key + `"],"tags":{"team":"infra"},"cluster":"other"}`))
	f.Add([]byte(`{"image":"x","image":"y"}`))
	f.Add([]byte(`{"image":"x"} trailing`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		spec, errs := v1alpha1.Parse(raw, "shoot--p--c")
		if len(errs) > 0 {
			for _, e := range errs {
				if !strings.HasPrefix(e.Field, "providerSpec") {
					t.Fatalf("error outside providerSpec: %v", e)
				}
			}
			return
		}
		out, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		again, errs := v1alpha1.Parse(out, "other-namespace")
		if len(errs) > 0 {
			t.Fatalf("accepted %q, but not its own rendering %s: %v", raw, out, errs.ToAggregate())
		}
		if out2, _ := json.Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the spec:\n%s\n%s", out, out2)
		}
	})
}
