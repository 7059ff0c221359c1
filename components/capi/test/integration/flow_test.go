package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	bootstrapv1 "sigs.k8s.io/cluster-api/api/bootstrap/kubeadm/v1beta2"
	controlplanev1 "sigs.k8s.io/cluster-api/api/controlplane/kubeadm/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testkit"
)

// flowTimeout bounds each step of the flow: generous, the machine is shared
// with other builds.
const flowTimeout = 4 * time.Minute

// TestClusterFlow walks a Cluster with a KubeadmControlPlane of 1 and a
// MachineDeployment of 2 through the real Cluster API controllers: the
// MetalCluster gets an endpoint IP from the real IPAM provider and the
// fleet's zones as failure domains; the kubeadm providers write bootstrap
// data; each MetalMachine claims a server through metal-operator, which
// powers it on; the fleet boots it from that data into a Node, which the
// metalkube ccm initializes and Cluster API attaches to its Machine. Then the
// MachineDeployment scales down to 1 and the Cluster is deleted: every
// ServerClaim, user-data Secret and IP claim is gone and every server is
// Available again.
func TestClusterFlow(t *testing.T) {
	b := testBed(t)
	ctx, c := b.ctx, env.Client
	const ns, name = "flow", "flow"
	start := time.Now()
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	nodesBefore := len(b.hw.Nodes())
	startCCM(t, ctx, ns+"."+name)

	// The workload cluster is this API server: a user-provided kubeconfig
	// Secret (not of Cluster API's secret type, so the control-plane
	// provider neither adopts nor rotates it) lets Cluster API read it.
	kubeconfig, err := os.ReadFile(env.Kubeconfig)
	must(t, err)
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-kubeconfig",
		Labels: map[string]string{clusterv1.ClusterNameLabel: name}}, Data: map[string][]byte{"value": kubeconfig}}))

	must(t, c.Create(ctx, &infrav1.MetalCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infrav1.MetalClusterSpec{ControlPlaneNetwork: cpNetwork}}))
	cpTemplate := &infrav1.MetalMachineTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-cp"},
		Spec: infrav1.MetalMachineTemplateSpec{Template: infrav1.MetalMachineTemplateResource{Spec: infrav1.MetalMachineSpec{
			Image:          "ubuntu-24.04",
			ServerSelector: &metav1.LabelSelector{MatchLabels: map[string]string{ironcore.DefaultSizeLabel: serverSize}},
		}}}}
	mdTemplate := &infrav1.MetalMachineTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-md"},
		Spec: infrav1.MetalMachineTemplateSpec{Template: infrav1.MetalMachineTemplateResource{Spec: infrav1.MetalMachineSpec{
			Image: "ubuntu-24.04", Size: serverSize,
		}}}}
	must(t, c.Create(ctx, cpTemplate))
	must(t, c.Create(ctx, mdTemplate))
	infraRef := func(kind, name string) clusterv1.ContractVersionedObjectReference {
		return clusterv1.ContractVersionedObjectReference{APIGroup: infrav1.GroupVersion.Group, Kind: kind, Name: name}
	}
	const version = "v1.34.0"
	must(t, c.Create(ctx, &controlplanev1.KubeadmControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-cp"},
		Spec: controlplanev1.KubeadmControlPlaneSpec{
			Replicas: ptr(int32(1)), Version: version,
			MachineTemplate: controlplanev1.KubeadmControlPlaneMachineTemplate{Spec: controlplanev1.KubeadmControlPlaneMachineTemplateSpec{
				InfrastructureRef: infraRef("MetalMachineTemplate", cpTemplate.Name)}},
			KubeadmConfigSpec: bootstrapv1.KubeadmConfigSpec{Format: bootstrapv1.CloudConfig},
		}}))
	must(t, c.Create(ctx, &bootstrapv1.KubeadmConfigTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-md"},
		Spec: bootstrapv1.KubeadmConfigTemplateSpec{Template: bootstrapv1.KubeadmConfigTemplateResource{
			Spec: bootstrapv1.KubeadmConfigSpec{Format: bootstrapv1.CloudConfig}}}}))
	mdLabels := map[string]string{clusterv1.ClusterNameLabel: name, clusterv1.MachineDeploymentNameLabel: name + "-md"}
	md := &clusterv1.MachineDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-md"},
		Spec: clusterv1.MachineDeploymentSpec{
			ClusterName: name, Replicas: ptr(int32(2)),
			// What Cluster API's defaulting webhook would set (its
			// webhooks are not registered with the API server here).
			Rollout: clusterv1.MachineDeploymentRolloutSpec{Strategy: clusterv1.MachineDeploymentRolloutStrategy{
				Type: clusterv1.RollingUpdateMachineDeploymentStrategyType,
				RollingUpdate: clusterv1.MachineDeploymentRolloutStrategyRollingUpdate{
					MaxSurge: ptr(intstr.FromInt32(1)), MaxUnavailable: ptr(intstr.FromInt32(0))}}},
			Selector: metav1.LabelSelector{MatchLabels: mdLabels},
			Template: clusterv1.MachineTemplateSpec{ObjectMeta: clusterv1.ObjectMeta{Labels: mdLabels}, Spec: clusterv1.MachineSpec{
				ClusterName: name, Version: version,
				Bootstrap: clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{
					APIGroup: bootstrapv1.GroupVersion.Group, Kind: "KubeadmConfigTemplate", Name: name + "-md"}},
				InfrastructureRef: infraRef("MetalMachineTemplate", mdTemplate.Name),
			}},
		}}
	must(t, c.Create(ctx, md))
	must(t, c.Create(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: clusterv1.ClusterSpec{
			ClusterNetwork:    clusterv1.ClusterNetwork{Pods: clusterv1.NetworkRanges{CIDRBlocks: []string{"192.168.0.0/16"}}},
			ControlPlaneRef:   clusterv1.ContractVersionedObjectReference{APIGroup: controlplanev1.GroupVersion.Group, Kind: "KubeadmControlPlane", Name: name + "-cp"},
			InfrastructureRef: infraRef("MetalCluster", name),
		}}))

	// The MetalCluster: an endpoint IP from the control-plane pool, the
	// fleet's zones as failure domains; the Cluster takes both over.
	mc := &infrav1.MetalCluster{}
	testkit.EventuallyWithin(t, flowTimeout, "the Cluster's infrastructure provisioned", func() (bool, string) {
		cluster := &clusterv1.Cluster{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cluster))
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, mc))
		return ptrTrue(cluster.Status.Initialization.InfrastructureProvisioned) && cluster.Spec.ControlPlaneEndpoint.Host != "",
			fmt.Sprintf("cluster %+v, endpoint %+v; MetalCluster %+v", cluster.Status.Initialization, cluster.Spec.ControlPlaneEndpoint, mc.Status)
	})
	if ip, err := netipParse(mc.Spec.ControlPlaneEndpoint.Host); err != nil || !cpPrefix.Contains(ip) || mc.Spec.ControlPlaneEndpoint.Port != infrav1.DefaultAPIServerPort {
		t.Errorf("control-plane endpoint %+v: want an address of %s, port %d", mc.Spec.ControlPlaneEndpoint, cpPrefix, infrav1.DefaultAPIServerPort)
	}
	var domains []string
	for _, fd := range mc.Status.FailureDomains {
		domains = append(domains, fd.Name)
	}
	if !slices.Equal(domains, []string{"zone-a", "zone-b"}) {
		t.Errorf("failure domains %q, want the fleet's zones", domains)
	}
	t.Logf("%s: MetalCluster provisioned, endpoint %s:%d", time.Since(start).Round(time.Second), mc.Spec.ControlPlaneEndpoint.Host, mc.Spec.ControlPlaneEndpoint.Port)

	// The control-plane machine: bootstrap data from the kubeadm provider,
	// a server claimed and powered on, a Node booted from the data.
	cp := waitMetalMachines(t, ctx, ns, map[string]string{clusterv1.MachineControlPlaneLabel: ""}, 1)
	t.Logf("%s: control-plane MetalMachine %s provisioned on %s", time.Since(start).Round(time.Second), cp[0].Name, cp[0].Status.Server)
	checkProvisioned(t, ctx, &cp[0])

	// kubeadm init cannot run here: play its visible result, the
	// kubeadm-config ConfigMap, on which the control-plane provider marks the
	// control plane initialized (and the bootstrap provider starts writing
	// the workers' join data).
	must(t, client.IgnoreAlreadyExists(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}})))
	must(t, c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kubeadm-config"},
		Data: map[string]string{"ClusterConfiguration": "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: " + version + "\n"}}))
	testkit.EventuallyWithin(t, flowTimeout, "the control plane initialized", func() (bool, string) {
		cluster := &clusterv1.Cluster{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cluster))
		return ptrTrue(cluster.Status.Initialization.ControlPlaneInitialized), fmt.Sprintf("%+v", cluster.Status.Initialization)
	})

	workers := waitMetalMachines(t, ctx, ns, map[string]string{clusterv1.MachineDeploymentNameLabel: md.Name}, 2)
	t.Logf("%s: 2 worker MetalMachines provisioned", time.Since(start).Round(time.Second))
	for i := range workers {
		checkProvisioned(t, ctx, &workers[i])
	}
	testkit.EventuallyWithin(t, flowTimeout, "three Nodes booted from the bootstrap data", func() (bool, string) {
		n := len(b.hw.Nodes()) - nodesBefore
		return n >= 3, fmt.Sprintf("%d new nodes: %v", n, b.hw.Nodes())
	})
	// The ccm initializes the Nodes (provider ID, no uninitialized taint);
	// Cluster API finds them by provider ID and the Machines run.
	testkit.EventuallyWithin(t, flowTimeout, "the Machines running on initialized Nodes", func() (bool, string) {
		machines := &clusterv1.MachineList{}
		must(t, c.List(ctx, machines, client.InNamespace(ns)))
		var phases []string
		ok := len(machines.Items) == 3
		for _, m := range machines.Items {
			node := ""
			if m.Status.NodeRef.IsDefined() {
				node = m.Status.NodeRef.Name
			}
			phases = append(phases, fmt.Sprintf("%s=%s node %q", m.Name, m.Status.Phase, node))
			ok = ok && m.Status.Phase == string(clusterv1.MachinePhaseRunning) && node != ""
		}
		return ok, strings.Join(phases, " ")
	})
	for _, mm := range append(cp, workers...) {
		nodes := &corev1.NodeList{}
		must(t, c.List(ctx, nodes))
		var found *corev1.Node
		for i := range nodes.Items {
			if nodes.Items[i].Spec.ProviderID == mm.Spec.ProviderID {
				found = &nodes.Items[i]
			}
		}
		if found == nil {
			t.Errorf("%s: no Node with provider ID %s", mm.Name, mm.Spec.ProviderID)
			continue
		}
		for _, taint := range found.Spec.Taints {
			if taint.Key == fleet.TaintUninitialized {
				t.Errorf("node %s still has the uninitialized taint", found.Name)
			}
		}
	}
	t.Logf("%s: 3 Machines running on Nodes the ccm initialized", time.Since(start).Round(time.Second))

	// Scale down: one worker goes, its server is released.
	must(t, c.Get(ctx, client.ObjectKeyFromObject(md), md))
	md.Spec.Replicas = ptr(int32(1))
	must(t, c.Update(ctx, md))
	testkit.EventuallyWithin(t, flowTimeout, "one worker left", func() (bool, string) {
		list := &infrav1.MetalMachineList{}
		must(t, c.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{clusterv1.MachineDeploymentNameLabel: md.Name}))
		claims := &metalv1alpha1.ServerClaimList{}
		must(t, c.List(ctx, claims, client.InNamespace(metalNamespace)))
		return len(list.Items) == 1 && len(claims.Items) == 2, fmt.Sprintf("%d worker MetalMachines, %d claims", len(list.Items), len(claims.Items))
	})
	t.Logf("%s: scaled down to 1 worker", time.Since(start).Round(time.Second))

	// Delete the Cluster: nothing is left behind.
	must(t, c.Delete(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}))
	testkit.EventuallyWithin(t, flowTimeout, "the Cluster gone", func() (bool, string) {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &clusterv1.Cluster{})
		mms := &infrav1.MetalMachineList{}
		must(t, c.List(ctx, mms, client.InNamespace(ns)))
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v; %d MetalMachines", err, len(mms.Items))
	})
	t.Logf("%s: Cluster deleted", time.Since(start).Round(time.Second))
	checkNoLeaks(t, ctx, ns)
}

// waitMetalMachines waits until n MetalMachines with the labels are
// provisioned and returns them.
func waitMetalMachines(t *testing.T, ctx context.Context, ns string, labels map[string]string, n int) []infrav1.MetalMachine {
	t.Helper()
	var list infrav1.MetalMachineList
	testkit.EventuallyWithin(t, flowTimeout, fmt.Sprintf("%d MetalMachines %v provisioned", n, labels), func() (bool, string) {
		must(t, env.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels(labels)))
		var states []string
		ok := len(list.Items) == n
		for _, mm := range list.Items {
			ready := meta.FindStatusCondition(mm.Status.Conditions, infrav1.ConditionReady)
			states = append(states, fmt.Sprintf("%s: %s %v", mm.Name, mm.Status.State, ready))
			ok = ok && ptrTrue(mm.Status.Initialization.Provisioned)
		}
		return ok, strings.Join(states, "; ")
	})
	return list.Items
}

// checkProvisioned checks what a provisioned MetalMachine reports: the
// provider ID of its claim, addresses, a failure domain and Ready.
func checkProvisioned(t *testing.T, ctx context.Context, mm *infrav1.MetalMachine) {
	t.Helper()
	want := "metal://" + metalNamespace + "/" + mm.Namespace + "." + mm.Name
	if mm.Spec.ProviderID != want {
		t.Errorf("%s: providerID %q, want %q", mm.Name, mm.Spec.ProviderID, want)
	}
	if mm.Status.Server == "" || mm.Status.State != "Running" || len(mm.Status.Addresses) == 0 || mm.Status.FailureDomain == "" {
		t.Errorf("%s: status %+v", mm.Name, mm.Status)
	}
	if !meta.IsStatusConditionTrue(mm.Status.Conditions, infrav1.ConditionReady) || !meta.IsStatusConditionTrue(mm.Status.Conditions, infrav1.ConditionBootstrapDataReady) {
		t.Errorf("%s: conditions %+v", mm.Name, mm.Status.Conditions)
	}
	// The claim carries the bootstrap data the kubeadm provider wrote.
	secret := &corev1.Secret{}
	must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: metalNamespace, Name: mm.Namespace + "." + mm.Name}, secret))
	if data := string(secret.Data[ironcore.IgnitionKey]); !strings.HasPrefix(data, "## template: jinja\n#cloud-config") || !strings.Contains(data, "kubeadm") {
		t.Errorf("%s: user data is not the kubeadm provider's cloud-config: %.200q", mm.Name, data)
	}
}

// checkNoLeaks checks that a deleted cluster left nothing in the backend:
// no claims, no user-data Secrets, no IP claims, every server Available.
func checkNoLeaks(t *testing.T, ctx context.Context, ns string) {
	t.Helper()
	c := env.Client
	testkit.EventuallyWithin(t, flowTimeout, "no backend objects left", func() (bool, string) {
		claims := &metalv1alpha1.ServerClaimList{}
		must(t, c.List(ctx, claims, client.InNamespace(metalNamespace)))
		secrets := &corev1.SecretList{}
		must(t, c.List(ctx, secrets, client.InNamespace(metalNamespace), client.HasLabels{ironcore.LabelCluster}))
		ipClaims := &ipamv1.IPAddressClaimList{}
		must(t, c.List(ctx, ipClaims, client.InNamespace(metalNamespace)))
		mcs := &infrav1.MetalClusterList{}
		must(t, c.List(ctx, mcs, client.InNamespace(ns)))
		return len(claims.Items)+len(secrets.Items)+len(ipClaims.Items)+len(mcs.Items) == 0,
			fmt.Sprintf("%d claims, %d user-data Secrets, %d IP claims, %d MetalClusters", len(claims.Items), len(secrets.Items), len(ipClaims.Items), len(mcs.Items))
	})
	testkit.EventuallyWithin(t, flowTimeout, "every server Available", func() (bool, string) {
		list := &metalv1alpha1.ServerList{}
		must(t, c.List(ctx, list))
		var busy []string
		for _, s := range list.Items {
			if s.Status.State != metalv1alpha1.ServerStateAvailable {
				busy = append(busy, s.Name+"="+string(s.Status.State))
			}
		}
		return len(busy) == 0, strings.Join(busy, " ")
	})
}

func ptr[T any](v T) *T { return &v }

func ptrTrue(b *bool) bool { return b != nil && *b }
