package nodelabels

import (
	"context"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/metalkube/metalkube/components/ccm/cloud"
	"github.com/metalkube/metalkube/shared/metal"
)

// AnnotationSyncedLabels lists the label keys node-labels manages on a Node.
const AnnotationSyncedLabels = "ccm.metalkube.io/synced-labels"

// MachineFinder finds a Node's machine (cloud.MachineCache).
type MachineFinder interface {
	Find(ctx context.Context, node *corev1.Node) (*metal.Machine, error)
}

// Reconciler keeps backend labels on Nodes.
type Reconciler struct {
	Client   client.Client
	Machines MachineFinder
	// Prefixes select the backend labels copied (cloud.Config.LabelPrefixes).
	Prefixes []string
	// Resync is how often a Node is compared with the backend; default 1m.
	Resync time.Duration
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	node := &corev1.Node{}
	if err := r.Client.Get(ctx, req.NamespacedName, node); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if node.Spec.ProviderID == "" { // not initialized yet: the cloud-node controller goes first
		return reconcile.Result{}, nil
	}
	m, err := r.Machines.Find(ctx, node)
	if err != nil {
		return reconcile.Result{}, err
	}
	if m == nil {
		return reconcile.Result{RequeueAfter: r.Resync}, nil
	}
	want := cloud.AdditionalLabels(m, r.Prefixes)
	var had []string
	if s := node.Annotations[AnnotationSyncedLabels]; s != "" {
		had = strings.Split(s, ",")
	}
	patch := client.MergeFrom(node.DeepCopy())
	changed := false
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	for _, k := range had {
		if _, ok := want[k]; !ok {
			if _, present := node.Labels[k]; present {
				delete(node.Labels, k)
				changed = true
			}
		}
	}
	keys := make([]string, 0, len(want))
	for k, v := range want {
		keys = append(keys, k)
		if node.Labels[k] != v {
			node.Labels[k] = v
			changed = true
		}
	}
	slices.Sort(keys)
	if joined := strings.Join(keys, ","); node.Annotations[AnnotationSyncedLabels] != joined {
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		node.Annotations[AnnotationSyncedLabels] = joined
		changed = true
	}
	if changed {
		if err := r.Client.Patch(ctx, node, patch); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{RequeueAfter: r.Resync}, nil
}
