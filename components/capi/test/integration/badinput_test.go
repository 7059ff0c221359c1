package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
	"github.com/metalkube/metalkube/components/capi/controller/metalmachine"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testkit"
)

// TestBadInput: a Machine whose bootstrap Secret is missing waits with
// BootstrapDataReady=False and goes on once the Secret is there; a
// selector no server matches gives ServerReady=False NoMatchingServer and
// no reconcile errors, and claims nothing; a paused Cluster sets Paused on
// its MetalMachines. The Machines' bootstrap data is given directly
// (spec.bootstrap.dataSecretName), as Cluster API allows.
func TestBadInput(t *testing.T) {
	b := testBed(t)
	ctx, c := b.ctx, env.Client
	const ns, name = "bad", "bad"
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, &infrav1.MetalCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infrav1.MetalClusterSpec{ControlPlaneEndpoint: clusterv1.APIEndpoint{Host: "10.99.0.1", Port: 6443}}}))
	must(t, c.Create(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: clusterv1.ClusterSpec{InfrastructureRef: clusterv1.ContractVersionedObjectReference{
			APIGroup: infrav1.GroupVersion.Group, Kind: "MetalCluster", Name: name}}}))
	testkit.EventuallyWithin(t, flowTimeout, "the Cluster's infrastructure provisioned", func() (bool, string) {
		cluster := &clusterv1.Cluster{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cluster))
		return ptrTrue(cluster.Status.Initialization.InfrastructureProvisioned), fmt.Sprintf("%+v", cluster.Status.Initialization)
	})

	machine := func(name, secret string, spec infrav1.MetalMachineSpec) {
		must(t, c.Create(ctx, &infrav1.MetalMachine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}))
		must(t, c.Create(ctx, &clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: clusterv1.MachineSpec{ClusterName: "bad", Bootstrap: clusterv1.Bootstrap{DataSecretName: &secret},
				InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: infrav1.GroupVersion.Group, Kind: "MetalMachine", Name: name}}}))
	}
	waitCondition := func(name, typ, reason string) *metav1.Condition {
		t.Helper()
		var cond *metav1.Condition
		testkit.EventuallyWithin(t, flowTimeout, fmt.Sprintf("%s: %s=False %s", name, typ, reason), func() (bool, string) {
			mm := &infrav1.MetalMachine{}
			must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, mm))
			cond = meta.FindStatusCondition(mm.Status.Conditions, typ)
			return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == reason, fmt.Sprintf("%+v", mm.Status.Conditions)
		})
		return cond
	}
	claimed := func(name string) bool {
		err := c.Get(ctx, client.ObjectKey{Namespace: metalNamespace, Name: ns + "." + name}, &metalv1alpha1.ServerClaim{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}

	// The late machine's host, and so its Node, is named inside the test's
	// namespace, so that the cleanup below finds the Node.
	lateUserData := "#cloud-config\nhostname: " + ns + ".late\n"
	t.Run("missing bootstrap Secret", func(t *testing.T) {
		machine("no-secret", "no-secret-data", infrav1.MetalMachineSpec{Image: "ubuntu-24.04", Size: serverSize})
		cond := waitCondition("no-secret", infrav1.ConditionBootstrapDataReady, infrav1.ReasonBootstrapSecretNotFound)
		if !strings.Contains(cond.Message, "bad/no-secret-data") {
			t.Errorf("message %q does not name the Secret", cond.Message)
		}
		if claimed("no-secret") {
			t.Error("a server was claimed without bootstrap data")
		}
		must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-secret-data"},
			Data: map[string][]byte{metalmachine.BootstrapValueKey: []byte(lateUserData), metalmachine.BootstrapFormatKey: []byte(metalmachine.FormatCloudConfig)}}))
		mm := waitMetalMachines(t, ctx, ns, nil, 1)
		if mm[0].Name != "no-secret" {
			t.Fatalf("provisioned %s", mm[0].Name)
		}
		secret := &corev1.Secret{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: metalNamespace, Name: ns + ".no-secret"}, secret))
		if got := string(secret.Data[ironcore.IgnitionKey]); got != lateUserData {
			t.Errorf("user data %q", got)
		}
	})

	t.Run("no server matches", func(t *testing.T) {
		must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data"},
			Data: map[string][]byte{metalmachine.BootstrapValueKey: []byte("#cloud-config\n")}}))
		machine("no-server", "data", infrav1.MetalMachineSpec{Image: "ubuntu-24.04",
			ServerSelector: &metav1.LabelSelector{MatchLabels: map[string]string{ironcore.DefaultSizeLabel: "no-such-size"}}})
		cond := waitCondition("no-server", infrav1.ConditionServerReady, infrav1.ReasonNoMatchingServer)
		if !strings.Contains(cond.Message, "no server matches selector metal.metalkube.io/size=no-such-size") {
			t.Errorf("message %q does not say that no server matches the selector", cond.Message)
		}
		errorsBefore := reconcileErrors(t)
		reconcilesBefore := reconciles(t)
		// Three retries later: still waiting, no error returned to the
		// controller (which would back off, log and count it), no claim.
		testkit.EventuallyWithin(t, flowTimeout, "three more reconciles", func() (bool, string) {
			n := reconciles(t)
			return n >= reconcilesBefore+3, fmt.Sprintf("%v reconciles, from %v", n, reconcilesBefore)
		})
		if after := reconcileErrors(t); after != errorsBefore {
			t.Errorf("reconcile errors went from %v to %v while no server matched", errorsBefore, after)
		}
		waitCondition("no-server", infrav1.ConditionServerReady, infrav1.ReasonNoMatchingServer)
		if claimed("no-server") {
			t.Error("a claim exists although no server matches")
		}

		// What `kubectl get metalmachines` shows (-o wide adds ProviderID
		// and Message).
		columns, rows := table(t, ctx, ns, "metalmachines", true)
		checkColumns(t, columns, []string{"Name", "Cluster", "State", "Server", "Provisioned", "Ready", "Reason", "ProviderID", "Message", "Age"})
		if r := rows["no-server"]; r["Ready"] != "False" || r["Reason"] != infrav1.ReasonNoMatchingServer || !strings.Contains(r["Message"], "no-such-size") || r["Cluster"] != name {
			t.Errorf("no-server row %v", r)
		}
		if r := rows["no-secret"]; r["State"] != "Running" || r["Provisioned"] != "true" || r["Ready"] != "True" || r["ProviderID"] != "metal://"+metalNamespace+"/bad.no-secret" || r["Server"] == "" {
			t.Errorf("no-secret row %v", r)
		}
		columns, rows = table(t, ctx, ns, "metalclusters", false)
		checkColumns(t, columns, []string{"Name", "Cluster", "Endpoint", "Provisioned", "Ready", "Reason", "Age"})
		if r := rows[name]; r["Endpoint"] != "10.99.0.1" || r["Ready"] != "True" {
			t.Errorf("MetalCluster row %v", r)
		}
	})

	t.Run("paused", func(t *testing.T) {
		pause := func(paused bool) {
			cluster := &clusterv1.Cluster{}
			must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cluster))
			patch := client.MergeFrom(cluster.DeepCopy())
			cluster.Spec.Paused = ptr(paused)
			must(t, c.Patch(ctx, cluster, patch))
		}
		pause(true)
		testkit.EventuallyWithin(t, flowTimeout, "Paused=True on the MetalMachines and the MetalCluster", func() (bool, string) {
			mms := &infrav1.MetalMachineList{}
			must(t, c.List(ctx, mms, client.InNamespace(ns)))
			mc := &infrav1.MetalCluster{}
			must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, mc))
			ok := meta.IsStatusConditionTrue(mc.Status.Conditions, infrav1.ConditionPaused)
			for _, mm := range mms.Items {
				ok = ok && meta.IsStatusConditionTrue(mm.Status.Conditions, infrav1.ConditionPaused)
			}
			return ok, fmt.Sprintf("%d MetalMachines", len(mms.Items))
		})
		pause(false)
		testkit.EventuallyWithin(t, flowTimeout, "Paused=False again", func() (bool, string) {
			mc := &infrav1.MetalCluster{}
			must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, mc))
			return meta.IsStatusConditionFalse(mc.Status.Conditions, infrav1.ConditionPaused), fmt.Sprintf("%+v", mc.Status.Conditions)
		})
	})

	// Cleanup: deleting the Cluster frees the one machine that got a server.
	must(t, c.Delete(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}))
	checkNoLeaks(t, ctx, ns)
	// Its Node stays: no ccm gave it a provider ID here, so Cluster API
	// never linked it to its Machine and does not delete it. It would
	// carry the system UUID of a server the next test reuses (and the ccm
	// there would match it): delete it as the cluster's owner would.
	// The fleet registers the late machine's Node when that machine boots,
	// which may come after the Cluster is gone: wait for it, then delete.
	late := &corev1.Node{}
	testkit.EventuallyWithin(t, 4*time.Minute, "the late machine's Node "+ns+".late registered", func() error {
		return c.Get(ctx, client.ObjectKey{Name: ns + ".late"}, late)
	})
	nodes := &corev1.NodeList{}
	must(t, c.List(ctx, nodes))
	for i := range nodes.Items {
		if strings.HasPrefix(nodes.Items[i].Name, ns+".") {
			must(t, client.IgnoreNotFound(c.Delete(ctx, &nodes.Items[i])))
		}
	}
}

// reconcileErrors is the metalmachine controller's reconcile error count.
func reconcileErrors(t *testing.T) float64 {
	return controllerMetric(t, "controller_runtime_reconcile_errors_total")
}

// reconciles is the metalmachine controller's reconcile count.
func reconciles(t *testing.T) float64 {
	return controllerMetric(t, "controller_runtime_reconcile_total")
}

func controllerMetric(t *testing.T, name string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	must(t, err)
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == metalmachine.ControllerName {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
