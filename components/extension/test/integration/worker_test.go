package integration

import (
	"bytes"
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/controller/worker/machines"
	mcmv1alpha1 "github.com/metalkube/metalkube/shared/apis/mcm/v1alpha1"
	"github.com/metalkube/metalkube/shared/testkit"
)

const infraStatus = `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureStatus",
"partition":"fra-rack-1","network":{"id":"net-1","name":"nodes","prefixes":["10.128.0.0/24"],"managed":true},"externalNetworks":["internet"]}`

const workerConfig = `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"WorkerConfig",
"serverLabels":{"metal.ironcore.dev/rack":"r1"},"metadata":{"team":"platform"},
"extraIgnition":{"raw":"{\"ignition\":{\"version\":\"3.5.0\"}}"}}`

// newWorker returns a Worker with the given pools; the user data Secret
// "userdata" must exist in ns.
func newWorker(ns string, pools ...extensionsv1alpha1.WorkerPool) *extensionsv1alpha1.Worker {
	return &extensionsv1alpha1.Worker{
		ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: ns, Annotations: opAnnotation("reconcile")},
		Spec: extensionsv1alpha1.WorkerSpec{
			DefaultSpec:                  extensionsv1alpha1.DefaultSpec{Type: "metalkube"},
			Region:                       "fra",
			SecretRef:                    corev1SecretRef(ns),
			InfrastructureProviderStatus: rawString(infraStatus),
			SSHPublicKey:                 []byte("ssh-ed25519 AAAAC3Nz test"),
			Pools:                        pools,
		},
	}
}

func pool(name, arch string, cfg string, zones ...string) extensionsv1alpha1.WorkerPool {
	p := extensionsv1alpha1.WorkerPool{
		Name: name, Minimum: 2, Maximum: 6, MaxSurge: intstr.FromInt32(1), MaxUnavailable: intstr.FromInt32(0),
		MachineType:         "c1-large",
		MachineImage:        extensionsv1alpha1.MachineImage{Name: "gardenlinux", Version: "1592.1.0"},
		Architecture:        &arch,
		Zones:               zones,
		UserDataSecretRef:   corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "userdata"}, Key: "cloud-config"},
		Labels:              map[string]string{"pool": name},
		NodeAgentSecretName: ptr.To("gardener-node-agent-" + name),
	}
	if cfg != "" {
		p.ProviderConfig = rawString(cfg)
	}
	return p
}

func createUserData(t testing.TB, ns string) {
	t.Helper()
	if err := env.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "userdata", Namespace: ns},
		Data: map[string][]byte{"cloud-config": []byte(`{"ignition":{"version":"3.5.0"}}`)}}); err != nil {
		t.Fatal(err)
	}
}

// rendered is what the golden file holds: the objects as the mcm driver and
// MCM see them, without server-set metadata.
type rendered struct {
	MachineClasses []goldenClass      `json:"machineClasses"`
	Deployments    []goldenDeployment `json:"machineDeployments"`
	WorkerStatus   any                `json:"workerProviderStatus"`
}

type goldenClass struct {
	Name         string                        `json:"name"`
	Provider     string                        `json:"provider"`
	ProviderSpec *mcmv1alpha1.ProviderSpec     `json:"providerSpec"`
	NodeTemplate *machinev1alpha1.NodeTemplate `json:"nodeTemplate"`
	SecretRef    string                        `json:"secretRef"`
	Credentials  string                        `json:"credentialsSecretRef"`
	UserData     string                        `json:"userData"`
}

type goldenDeployment struct {
	Name     string            `json:"name"`
	Replicas int32             `json:"replicas"`
	Class    string            `json:"class"`
	Labels   map[string]string `json:"nodeLabels,omitempty"`
	Strategy string            `json:"strategy"`
}

func collect(t *testing.T, w *extensionsv1alpha1.Worker) rendered {
	t.Helper()
	ctx := context.Background()
	var out rendered
	mcs := &machinev1alpha1.MachineClassList{}
	if err := env.Client.List(ctx, mcs, client.InNamespace(w.Namespace)); err != nil {
		t.Fatal(err)
	}
	c := codec.New()
	for _, mc := range mcs.Items {
		spec, errs := mcmv1alpha1.Parse(mc.ProviderSpec.Raw, mc.Namespace)
		if len(errs) > 0 {
			t.Fatalf("machine class %s: the mcm driver rejects its provider spec: %v", mc.Name, errs.ToAggregate())
		}
		s := &corev1.Secret{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: mc.SecretRef.Name}, s); err != nil {
			t.Fatalf("machine class %s secret: %v", mc.Name, err)
		}
		out.MachineClasses = append(out.MachineClasses, goldenClass{Name: mc.Name, Provider: mc.Provider, ProviderSpec: spec, NodeTemplate: mc.NodeTemplate,
			SecretRef: mc.SecretRef.Name, Credentials: mc.CredentialsSecretRef.Name, UserData: string(s.Data[machines.UserDataKey])})
	}
	mds := &machinev1alpha1.MachineDeploymentList{}
	if err := env.Client.List(ctx, mds, client.InNamespace(w.Namespace)); err != nil {
		t.Fatal(err)
	}
	for _, md := range mds.Items {
		out.Deployments = append(out.Deployments, goldenDeployment{Name: md.Name, Replicas: md.Spec.Replicas, Class: md.Spec.Template.Spec.Class.Name,
			Labels: md.Spec.Template.Spec.NodeTemplateSpec.Labels, Strategy: string(md.Spec.Strategy.Type)})
	}
	sort.Slice(out.MachineClasses, func(i, j int) bool { return out.MachineClasses[i].Name < out.MachineClasses[j].Name })
	sort.Slice(out.Deployments, func(i, j int) bool { return out.Deployments[i].Name < out.Deployments[j].Name })
	if w.Status.ProviderStatus != nil {
		st, err := c.WorkerStatus(w.Status.ProviderStatus)
		if err != nil {
			t.Fatal(err)
		}
		out.WorkerStatus = st
	}
	return out
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	testkit.Golden(t, path, b)
}

// TestWorker: a Worker becomes MachineClasses for the metalkube mcm driver
// and MachineDeployments (golden), records its machine images, and takes all
// of them with it when deleted.
func TestWorker(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := newShoot(t, "worker", workerPool("pool-a", "fra-1", "fra-2"))
	createUserData(t, ns)
	w := newWorker(ns,
		pool("pool-a", "amd64", "", "fra-1", "fra-2"),
		pool("pool-b", "arm64", workerConfig, "fra-3"),
	)
	if err := env.Client.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, w, gardencorev1beta1.LastOperationTypeReconcile, 60*time.Second)

	got := collect(t, w)
	if len(got.MachineClasses) != 3 || len(got.Deployments) != 3 {
		t.Fatalf("got %d machine classes and %d deployments, want 3 each", len(got.MachineClasses), len(got.Deployments))
	}
	for _, mc := range got.MachineClasses {
		if mc.ProviderSpec.Cluster != ns {
			t.Errorf("class %s: cluster %q, want %q", mc.Name, mc.ProviderSpec.Cluster, ns)
		}
	}
	// Names carry the namespace, which carries a per-run sequence number:
	// normalise it for the golden file.
	golden(t, "worker.yaml", normalise(t, got, ns))

	if err := env.Client.Delete(ctx, w); err != nil {
		t.Fatal(err)
	}
	waitGone(t, w, 60*time.Second)
	if after := collect(t, w); len(after.MachineClasses)+len(after.Deployments) != 0 {
		t.Errorf("after delete: %d machine classes, %d deployments left", len(after.MachineClasses), len(after.Deployments))
	}
	secrets := &corev1.SecretList{}
	if err := env.Client.List(ctx, secrets, client.InNamespace(ns), client.MatchingLabels(machines.SecretLabels())); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("after delete: %d machine class secrets left", len(secrets.Items))
	}
}

func normalise(t *testing.T, r rendered, ns string) any {
	t.Helper()
	b, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(ns), []byte("shoot--dev--worker"))
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
