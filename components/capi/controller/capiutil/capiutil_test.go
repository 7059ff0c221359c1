package capiutil

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
)

func TestBackendCluster(t *testing.T) {
	tests := []struct {
		ns, name, want, wantErr string
	}{
		{ns: "default", name: "prod", want: "default.prod"},
		{ns: "team-a", name: "web.eu", want: "team-a.web.eu"},
		{ns: "a-very-long-namespace-name-for-tenants", name: "and-a-long-cluster-name-too", wantErr: `cluster a-very-long-namespace-name-for-tenants/and-a-long-cluster-name-too: backend cluster name "a-very-long-namespace-name-for-tenants.and-a-long-cluster-name-too"`},
	}
	for _, tt := range tests {
		t.Run(tt.ns+"/"+tt.name, func(t *testing.T) {
			got, err := BackendCluster(tt.ns, tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestIsPausedAndOwner(t *testing.T) {
	paused := true
	mm := &infrav1.MetalMachine{ObjectMeta: metav1.ObjectMeta{Name: "m", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "cluster.x-k8s.io/v1beta1", Kind: "Machine", Name: "old-api"},
		{APIVersion: "other.example/v1", Kind: "Machine", Name: "not-capi"},
	}}}
	if got := OwnerByKind(mm, "Machine"); got != "old-api" {
		t.Errorf("owner %q, want the Cluster API Machine of any version", got)
	}
	for _, tc := range []struct {
		name    string
		cluster *clusterv1.Cluster
		annot   map[string]string
		want    bool
	}{
		{name: "running", cluster: &clusterv1.Cluster{}},
		{name: "cluster paused", cluster: &clusterv1.Cluster{Spec: clusterv1.ClusterSpec{Paused: &paused}}, want: true},
		{name: "annotation", cluster: &clusterv1.Cluster{}, annot: map[string]string{clusterv1.PausedAnnotation: ""}, want: true},
		{name: "no cluster", want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := mm.DeepCopy()
			obj.Annotations = tc.annot
			if got := IsPaused(tc.cluster, obj); got != tc.want {
				t.Errorf("IsPaused = %v, want %v", got, tc.want)
			}
		})
	}
}
