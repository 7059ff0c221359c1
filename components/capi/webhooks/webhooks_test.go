package webhooks

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
)

func TestClusterWebhook(t *testing.T) {
	ctx := context.Background()
	cluster := func(host string, port int32, network string, fds ...string) *infrav1.MetalCluster {
		return &infrav1.MetalCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: infrav1.MetalClusterSpec{
			ControlPlaneEndpoint: clusterv1.APIEndpoint{Host: host, Port: port}, ControlPlaneNetwork: network, FailureDomains: fds}}
	}
	tests := []struct {
		name     string
		old, new *infrav1.MetalCluster
		wantPort int32
		wantErr  []string
	}{
		{name: "given endpoint gets the default port", new: cluster("10.0.0.1", 0, ""), wantPort: 6443},
		{name: "DNS name endpoint", new: cluster("api.example.org", 443, ""), wantPort: 443},
		{name: "allocated endpoint", new: cluster("", 0, "internet")},
		{name: "no endpoint and no network", new: cluster("", 0, ""), wantErr: []string{"spec.controlPlaneNetwork: Required value"}},
		{name: "bad host", new: cluster("not a host!", 0, ""), wantPort: 6443, wantErr: []string{`spec.controlPlaneEndpoint.host: Invalid value: "not a host!"`}},
		{name: "duplicate failure domain", new: cluster("10.0.0.1", 0, "", "a", "a"), wantPort: 6443, wantErr: []string{`spec.failureDomains[1]: Duplicate value: "a"`}},
		{name: "endpoint set once", old: cluster("", 0, "internet"), new: cluster("10.0.0.1", 6443, "internet"), wantPort: 6443},
		{name: "endpoint does not move", old: cluster("10.0.0.1", 6443, ""), new: cluster("10.0.0.2", 6443, ""), wantPort: 6443,
			wantErr: []string{`spec.controlPlaneEndpoint: Invalid value: "10.0.0.2:6443": is immutable once set (was 10.0.0.1:6443)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := (Cluster{}).Default(ctx, tt.new); err != nil {
				t.Fatal(err)
			}
			if tt.new.Spec.ControlPlaneEndpoint.Port != tt.wantPort {
				t.Errorf("port %d, want %d", tt.new.Spec.ControlPlaneEndpoint.Port, tt.wantPort)
			}
			var err error
			if tt.old == nil {
				_, err = (Cluster{}).ValidateCreate(ctx, tt.new)
			} else {
				_, err = (Cluster{}).ValidateUpdate(ctx, tt.old, tt.new)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestMachineWebhook(t *testing.T) {
	ctx := context.Background()
	machine := func(f func(*infrav1.MetalMachineSpec)) *infrav1.MetalMachine {
		m := &infrav1.MetalMachine{ObjectMeta: metav1.ObjectMeta{Name: "m"}, Spec: infrav1.MetalMachineSpec{Image: "ubuntu-24.04"}}
		if f != nil {
			f(&m.Spec)
		}
		return m
	}
	tests := []struct {
		name     string
		old, new *infrav1.MetalMachine
		wantErr  []string
	}{
		{name: "image only", new: machine(nil)},
		{name: "selector", new: machine(func(s *infrav1.MetalMachineSpec) {
			s.ServerSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"size": "c1"}}
		})},
		{name: "no image", new: machine(func(s *infrav1.MetalMachineSpec) { s.Image = "" }), wantErr: []string{"spec.image: Required value"}},
		{name: "match expressions", new: machine(func(s *infrav1.MetalMachineSpec) {
			s.ServerSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpExists}}}
		}), wantErr: []string{"spec.serverSelector.matchExpressions: Forbidden: not supported (1 given)", "use matchLabels"}},
		{name: "bad label value", new: machine(func(s *infrav1.MetalMachineSpec) {
			s.ServerSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"size": "not ok!"}}
		}), wantErr: []string{`spec.serverSelector.matchLabels: Invalid value: "not ok!"`}},
		{name: "duplicate network", new: machine(func(s *infrav1.MetalMachineSpec) { s.Networks = []string{"n", "n"} }),
			wantErr: []string{`spec.networks[1]: Duplicate value: "n"`}},
		{name: "provider ID set once", old: machine(nil), new: machine(func(s *infrav1.MetalMachineSpec) { s.ProviderID = "metal://ns/m" })},
		{name: "provider ID stays", old: machine(func(s *infrav1.MetalMachineSpec) { s.ProviderID = "metal://ns/m" }),
			new:     machine(func(s *infrav1.MetalMachineSpec) { s.ProviderID = "metal://ns/other" }),
			wantErr: []string{`spec.providerID: Invalid value: "metal://ns/other": is immutable once set (was "metal://ns/m")`}},
		{name: "image immutable", old: machine(nil), new: machine(func(s *infrav1.MetalMachineSpec) { s.Image = "flatcar" }),
			wantErr: []string{`spec.image: Invalid value: "flatcar": is immutable (was ubuntu-24.04)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.old == nil {
				_, err = (Machine{}).ValidateCreate(ctx, tt.new)
			} else {
				_, err = (Machine{}).ValidateUpdate(ctx, tt.old, tt.new)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestTemplateWebhooks(t *testing.T) {
	ctx := context.Background()
	mt := &infrav1.MetalMachineTemplate{ObjectMeta: metav1.ObjectMeta{Name: "t"}}
	_, err := (MachineTemplate{}).ValidateCreate(ctx, mt)
	checkErr(t, err, []string{"spec.template.spec.image: Required value"})
	mt.Spec.Template.Spec.Image = "ubuntu-24.04"
	_, err = (MachineTemplate{}).ValidateCreate(ctx, mt)
	checkErr(t, err, nil)
	changed := mt.DeepCopy()
	changed.Spec.Template.Spec.Size = "c2"
	_, err = (MachineTemplate{}).ValidateUpdate(ctx, mt, changed)
	checkErr(t, err, []string{"spec: Forbidden: templates are immutable"})

	ct := &infrav1.MetalClusterTemplate{ObjectMeta: metav1.ObjectMeta{Name: "t"}}
	_, err = (ClusterTemplate{}).ValidateCreate(ctx, ct)
	checkErr(t, err, []string{"spec.template.spec.controlPlaneNetwork: Required value"})
}

func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
