package codec

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
)

func TestDecode(t *testing.T) {
	c := New()
	for _, tc := range []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"valid", `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","partition":"p1"}`, ""},
		{"unknown field", `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","partitionID":"p1"}`, `unknown field "partitionID"`},
		{"duplicate field", `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","partition":"a","partition":"b"}`, `duplicate field "partition"`},
		{"unknown version", `{"apiVersion":"provider.metalkube.io/v2","kind":"InfrastructureConfig"}`, `no kind "InfrastructureConfig" is registered for version "provider.metalkube.io/v2"`},
		{"other kind", `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"WorkerConfig"}`, "got kind WorkerConfig, want provider.metalkube.io/v1alpha1/InfrastructureConfig"},
		{"no kind", `{"apiVersion":"provider.metalkube.io/v1alpha1"}`, "Object 'Kind' is missing"},
		{"not json", `partition: [`, "decode InfrastructureConfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := c.InfrastructureConfig(&runtime.RawExtension{Raw: []byte(tc.doc)})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			case tc.wantErr == "" && cfg.Partition != "p1":
				t.Fatalf("partition = %q", cfg.Partition)
			}
		})
	}
}

func TestDefaultsAndRoundTrip(t *testing.T) {
	c := New()
	cp, err := c.ControlPlaneConfig(nil)
	if err != nil || cp.LoadBalancer == nil || cp.LoadBalancer.Mode != v1alpha1.LoadBalancerMetalLB {
		t.Fatalf("absent ControlPlaneConfig = %+v, %v; want metallb default", cp, err)
	}
	ic, err := c.InfrastructureConfig(&runtime.RawExtension{Raw: []byte(`{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","egressIPs":[{"network":"internet"}]}`)})
	if err != nil || *ic.EgressIPs[0].Count != v1alpha1.DefaultEgressIPCount {
		t.Fatalf("egress default: %+v, %v", ic, err)
	}
	raw, err := Encode(ic, v1alpha1.KindInfrastructureConfig)
	if err != nil {
		t.Fatal(err)
	}
	back, err := c.InfrastructureConfig(raw)
	if err != nil || *back.EgressIPs[0].Count != 1 || back.EgressIPs[0].Network != "internet" {
		t.Fatalf("round trip: %+v, %v (%s)", back, err, raw.Raw)
	}
}
