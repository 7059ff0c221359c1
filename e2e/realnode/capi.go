package realnode

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/e2e/framework/realnode"
)

// The provider's MetalClusters and Cluster API's Clusters, as the API
// server serves them (the e2e module does not import the provider).
var (
	metalClusters = schema.GroupVersionResource{Group: "infrastructure.cluster.x-k8s.io", Version: "v1alpha1", Resource: "metalclusters"}
	capiClusters  = schema.GroupVersionResource{Group: "cluster.x-k8s.io", Version: "v1beta2", Resource: "clusters"}
)

// metalClusterFinalizer is the provider's finalizer on the MetalClusters
// it reconciles.
const metalClusterFinalizer = "infrastructure.cluster.x-k8s.io/metalcluster"

// metalCluster is a MetalCluster with the given spec, labelled as Cluster
// API's cluster name.
func metalCluster(ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": metalClusters.GroupVersion().String(), "kind": "MetalCluster",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"cluster.x-k8s.io/cluster-name": name}},
		"spec":     spec,
	}}
}

// checkMetalClusterWebhooks creates MetalClusters (dry run) through the API
// server, which calls the provider's webhooks over TLS (the chart's
// caBundle) through their Service: one without an endpoint or a network to
// allocate it from must be refused naming spec.controlPlaneNetwork; one
// with an endpoint host and no port must be admitted with the defaulting
// webhook's port 6443.
func checkMetalClusterWebhooks(ctx context.Context, _ kubernetes.Interface, in Installed) error {
	dc, err := dynamic.NewForConfig(in.Config)
	if err != nil {
		return err
	}
	mcs := dc.Resource(metalClusters).Namespace(in.Namespace)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	_, err = mcs.Create(ctx, metalCluster(in.Namespace, "no-endpoint", map[string]any{}), dry)
	if err == nil || !strings.Contains(err.Error(), "spec.controlPlaneNetwork") {
		return fmt.Errorf("a MetalCluster without endpoint or network: %v, want the validating webhook's refusal naming spec.controlPlaneNetwork", err)
	}
	got, err := mcs.Create(ctx, metalCluster(in.Namespace, "endpoint", map[string]any{"controlPlaneEndpoint": map[string]any{"host": "192.0.2.10"}}), dry)
	if err != nil {
		return fmt.Errorf("a MetalCluster with an endpoint host: %w", err)
	}
	port, _, err := unstructured.NestedInt64(got.Object, "spec", "controlPlaneEndpoint", "port")
	if err != nil || port != 6443 {
		return fmt.Errorf("a MetalCluster without endpoint port: port %d (%v), want the defaulting webhook's 6443", port, err)
	}
	return nil
}

// reconcileMetalCluster has the provider's pods reconcile one MetalCluster
// of a Cluster API Cluster on the node: it gets the provider's finalizer and
// Ready=True (its endpoint given, the backend's partitions listed), and
// once deleted the provider lets it go (frees what it allocated, drops the
// finalizer).
func reconcileMetalCluster(ctx context.Context, n *realnode.Node, in Installed) error {
	dc, err := dynamic.NewForConfig(n.Config)
	if err != nil {
		return err
	}
	const name = "realnode"
	clusters := dc.Resource(capiClusters).Namespace(in.Namespace)
	cluster := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": capiClusters.GroupVersion().String(), "kind": "Cluster",
		"metadata": map[string]any{"name": name, "namespace": in.Namespace},
		"spec": map[string]any{"infrastructureRef": map[string]any{
			"apiGroup": metalClusters.Group, "kind": "MetalCluster", "name": name,
		}},
	}}
	if _, err := clusters.Create(ctx, cluster, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create the Cluster: %w", err)
	}
	mcs := dc.Resource(metalClusters).Namespace(in.Namespace)
	if _, err := mcs.Create(ctx, metalCluster(in.Namespace, name, map[string]any{
		"controlPlaneEndpoint": map[string]any{"host": "192.0.2.10", "port": int64(6443)},
	}), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create the MetalCluster: %w", err)
	}
	if err := framework.Eventually(ctx, "the MetalCluster reconciled by the provider's pod: finalizer and Ready=True", 2*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		mc, err := mcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(mc.Object, "status", "conditions")
		if slices.Contains(mc.GetFinalizers(), metalClusterFinalizer) && conditionTrue(conds, "Ready") {
			return true, nil
		}
		return false, fmt.Errorf("finalizers %v, conditions %v", mc.GetFinalizers(), conds)
	}); err != nil {
		return err
	}
	if err := mcs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete the MetalCluster: %w", err)
	}
	if err := framework.Eventually(ctx, "the deleted MetalCluster released by the provider", 2*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		mc, err := mcs.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return false, fmt.Errorf("still there: finalizers %v, deletion %v", mc.GetFinalizers(), mc.GetDeletionTimestamp())
	}); err != nil {
		return err
	}
	return clusters.Delete(ctx, name, metav1.DeleteOptions{})
}

// conditionTrue reports whether the unstructured conditions hold typ with
// status True.
func conditionTrue(conds []any, typ string) bool {
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ && m["status"] == string(metav1.ConditionTrue) {
			return true
		}
	}
	return false
}
