package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	resourcesv1alpha1 "github.com/gardener/gardener/pkg/apis/resources/v1alpha1"
	"github.com/gardener/gardener/pkg/utils/managedresources"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/components/extension/controller/controlplane"
	"github.com/metalkube/metalkube/components/extension/provider"
)

const controlPlaneConfig = `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"ControlPlaneConfig",
"cloudControllerManager":{"featureGates":{"CloudControllerManagerWebhook":true}},
"loadBalancer":{"mode":"cilium","defaultExternalNetwork":"internet","additionalNetworks":["dmz"]}}`

// objectsOf returns the objects of a ManagedResource by kind/name.
func objectsOf(t *testing.T, ns, name string) map[string]client.Object {
	t.Helper()
	objs, err := managedresources.GetObjects(context.Background(), env.Client, ns, name)
	if err != nil {
		t.Fatalf("objects of managed resource %s: %v", name, err)
	}
	out := map[string]client.Object{}
	for _, o := range objs {
		out[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = o
	}
	return out
}

// TestControlPlane: a ControlPlane becomes a seed ManagedResource with the
// metalkube ccm (cloud config with the load balancer mode, feature gates,
// shoot access) and a shoot ManagedResource with its RBAC; deletion removes
// both and the shoot access Secret.
func TestControlPlane(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := newShoot(t, "cp", workerPool("pool-a", "fra-1"))
	cp := &extensionsv1alpha1.ControlPlane{
		ObjectMeta: metav1.ObjectMeta{Name: "cp", Namespace: ns, Annotations: opAnnotation("reconcile")},
		Spec: extensionsv1alpha1.ControlPlaneSpec{
			DefaultSpec:                  extensionsv1alpha1.DefaultSpec{Type: "metalkube", ProviderConfig: rawString(controlPlaneConfig)},
			Region:                       "fra",
			SecretRef:                    corev1SecretRef(ns),
			InfrastructureProviderStatus: rawString(infraStatus),
		},
	}
	if err := env.Client.Create(ctx, cp); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, cp, gardencorev1beta1.LastOperationTypeReconcile, 30*time.Second)

	seed := objectsOf(t, ns, provider.ControlPlaneSeedResource)
	dep, ok := seed["Deployment/"+provider.CloudControllerManagerName].(*appsv1.Deployment)
	if !ok {
		t.Fatalf("seed objects %v: no cloud-controller-manager Deployment", keys(seed))
	}
	c := dep.Spec.Template.Spec.Containers[0]
	// The backend is the one the cloudprovider Secret names (a kubeconfig:
	// ironcore), its file mounted from that Secret.
	for _, want := range []string{"ccm", "--cloud-provider=metal", "--cluster-name=" + ns, "--backend=ironcore",
		"--metal-kubeconfig=/srv/cloudprovider/kubeconfig", "--metal-namespace=metal-fra",
		"--feature-gates=CloudControllerManagerWebhook=true", "--cluster-cidr=100.96.0.0/11"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("ccm args %v lack %s", c.Args, want)
		}
	}
	if !slices.ContainsFunc(dep.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == "cloudprovider" && v.Secret != nil && v.Secret.SecretName == cp.Spec.SecretRef.Name
	}) {
		t.Errorf("ccm does not mount the cloudprovider Secret: %v", dep.Spec.Template.Spec.Volumes)
	}
	// Liveness leaves the backend's health out (readiness has it): an
	// outage must not restart the ccm.
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz?exclude=metalkube-backend-health" {
		t.Errorf("ccm liveness probe %+v, want /healthz without metalkube-backend-health", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("ccm readiness probe %+v, want /healthz", c.ReadinessProbe)
	}
	if c.Image != "metalkube:test" || *dep.Spec.Replicas != 1 {
		t.Errorf("ccm image %s replicas %d", c.Image, *dep.Spec.Replicas)
	}
	if !slices.ContainsFunc(dep.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "kubeconfig" }) {
		t.Errorf("ccm has no generic kubeconfig volume: %v", dep.Spec.Template.Spec.Volumes)
	}
	cm, ok := seed["ConfigMap/"+provider.CloudProviderConfigName].(*corev1.ConfigMap)
	if !ok {
		t.Fatalf("seed objects %v: no cloud-provider-config", keys(seed))
	}
	var cc controlplane.CloudConfig
	if err := yaml.UnmarshalStrict([]byte(cm.Data[controlplane.CloudConfigKey]), &cc); err != nil {
		t.Fatal(err)
	}
	// LoadBalancer IPs come from the region's IPAM pool, and a Service may
	// pick the additional network.
	if cc.Announce != "cilium" || cc.LBNetwork != "internet" || cc.Cluster != ns ||
		!slices.Equal(cc.LBAdditionalNetworks, []string{"dmz"}) ||
		!slices.Equal(cc.IPPools, []string{"internet=ipam.cluster.x-k8s.io/GlobalInClusterIPPool/internet-v4"}) {
		t.Errorf("cloud config = %+v", cc)
	}
	if _, ok := seed["Service/"+provider.CloudControllerManagerName]; !ok {
		t.Errorf("seed objects %v: no Service", keys(seed))
	}

	shoot := objectsOf(t, ns, provider.ControlPlaneShootResource)
	var crb *rbacv1.ClusterRoleBinding
	for k, o := range shoot {
		if strings.HasPrefix(k, "ClusterRoleBinding/") {
			crb = o.(*rbacv1.ClusterRoleBinding)
		}
	}
	if crb == nil || crb.Subjects[0].Name != provider.CloudControllerManagerName {
		t.Errorf("shoot objects %v: no ClusterRoleBinding for the ccm", keys(shoot))
	}
	mr := &resourcesv1alpha1.ManagedResource{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: provider.ControlPlaneShootResource}, mr); err != nil {
		t.Fatal(err)
	}
	if mr.Spec.Class != nil {
		t.Errorf("shoot managed resource has class %q, want none (shoot)", *mr.Spec.Class)
	}
	access := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: controlplane.ShootAccessSecretName}, access); err != nil {
		t.Fatalf("shoot access secret: %v", err)
	}

	if err := env.Client.Delete(ctx, cp); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cp, 30*time.Second)
	for _, name := range []string{provider.ControlPlaneSeedResource, provider.ControlPlaneShootResource} {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &resourcesv1alpha1.ManagedResource{}); client.IgnoreNotFound(err) != nil || err == nil {
			t.Errorf("managed resource %s after delete: %v", name, err)
		}
	}
	secrets := &corev1.SecretList{}
	if err := env.Client.List(ctx, secrets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		if strings.HasPrefix(s.Name, "managedresource-") || s.Name == controlplane.ShootAccessSecretName {
			t.Errorf("secret %s left after delete", s.Name)
		}
	}
}

func keys(m map[string]client.Object) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestControlPlaneMigrateRestore: migrate removes the seed side and keeps
// the shoot's objects (keepObjects); restore on a new object deploys again.
func TestControlPlaneMigrateRestore(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := newShoot(t, "cpmig", workerPool("pool-a", "fra-1"))
	newCP := func(op string) *extensionsv1alpha1.ControlPlane {
		return &extensionsv1alpha1.ControlPlane{
			ObjectMeta: metav1.ObjectMeta{Name: "cp", Namespace: ns, Annotations: opAnnotation(op)},
			Spec: extensionsv1alpha1.ControlPlaneSpec{
				DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "metalkube"},
				Region:      "fra", SecretRef: corev1SecretRef(ns), InfrastructureProviderStatus: rawString(infraStatus),
			},
		}
	}
	cp := newCP("reconcile")
	if err := env.Client.Create(ctx, cp); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, cp, gardencorev1beta1.LastOperationTypeReconcile, 30*time.Second)

	annotate(t, cp, "migrate")
	waitSucceeded(t, cp, gardencorev1beta1.LastOperationTypeMigrate, 30*time.Second)
	for _, name := range []string{provider.ControlPlaneSeedResource, provider.ControlPlaneShootResource} {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &resourcesv1alpha1.ManagedResource{}); err == nil {
			t.Errorf("managed resource %s still there after migrate", name)
		}
	}
	if err := env.Client.Delete(ctx, cp); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cp, 10*time.Second)

	restored := newCP("restore")
	if err := env.Client.Create(ctx, restored); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, restored, gardencorev1beta1.LastOperationTypeRestore, 30*time.Second)
	if _, ok := objectsOf(t, ns, provider.ControlPlaneSeedResource)["Deployment/"+provider.CloudControllerManagerName]; !ok {
		t.Error("restore did not deploy the ccm again")
	}
}

// TestControlPlaneMetalStack: with metal-stack credentials in the
// cloudprovider Secret, the ccm runs the metalstack backend: metal-api's URL,
// the HMAC key as a file of the mounted Secret (never on the command line),
// the InfrastructureConfig's project and the cluster's partition.
func TestControlPlaneMetalStack(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := newShoot(t, "cpms", workerPool("pool-a", "fra-1"))

	cluster := &extensionsv1alpha1.Cluster{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: ns}, cluster); err != nil {
		t.Fatal(err)
	}
	shoot := &gardencorev1beta1.Shoot{}
	profile := &gardencorev1beta1.CloudProfile{}
	if err := json.Unmarshal(cluster.Spec.Shoot.Raw, shoot); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cluster.Spec.CloudProfile.Raw, profile); err != nil {
		t.Fatal(err)
	}
	shoot.Spec.Provider.InfrastructureConfig = rawString(`{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","project":"p-1"}`)
	// metal-stack has its own IP API: no IPAM pools in its regions.
	profile.Spec.ProviderConfig = rawString(strings.Replace(cloudProfileConfig, `"ipPools":[{"network":"internet","kind":"GlobalInClusterIPPool","name":"internet-v4"}],`, "", 1))
	cluster.Spec.Shoot, cluster.Spec.CloudProfile = *raw(t, shoot), *raw(t, profile)
	if err := env.Client.Update(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: corev1SecretRef(ns).Name}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{"metalAPIURL": []byte("https://metal-api.example"), "metalAPIHMac": []byte("s3cret-hmac")}
	if err := env.Client.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}

	cp := &extensionsv1alpha1.ControlPlane{
		ObjectMeta: metav1.ObjectMeta{Name: "cp", Namespace: ns, Annotations: opAnnotation("reconcile")},
		Spec: extensionsv1alpha1.ControlPlaneSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "metalkube", ProviderConfig: rawString(controlPlaneConfig)},
			Region:      "fra", SecretRef: corev1SecretRef(ns), InfrastructureProviderStatus: rawString(infraStatus),
		},
	}
	if err := env.Client.Create(ctx, cp); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, cp, gardencorev1beta1.LastOperationTypeReconcile, 30*time.Second)
	seed := objectsOf(t, ns, provider.ControlPlaneSeedResource)
	dep := seed["Deployment/"+provider.CloudControllerManagerName].(*appsv1.Deployment)
	args := dep.Spec.Template.Spec.Containers[0].Args
	for _, want := range []string{"--backend=metalstack", "--metal-api-url=https://metal-api.example",
		"--metal-api-hmac-file=/srv/cloudprovider/metalAPIHMac", "--metal-project=p-1", "--metal-partition=fra-rack-1"} {
		if !slices.Contains(args, want) {
			t.Errorf("ccm args %v lack %s", args, want)
		}
	}
	for _, a := range args {
		if strings.Contains(a, "s3cret-hmac") || strings.HasPrefix(a, "--metal-kubeconfig") || strings.HasPrefix(a, "--metal-namespace") {
			t.Errorf("ccm arg %q: a secret or an ironcore flag", a)
		}
	}
	cm := seed["ConfigMap/"+provider.CloudProviderConfigName].(*corev1.ConfigMap)
	if strings.Contains(cm.Data[controlplane.CloudConfigKey], "ip-pool") {
		t.Errorf("cloud config of a metal-stack shoot names IPAM pools:\n%s", cm.Data[controlplane.CloudConfigKey])
	}
}
