package ruleset

import (
	"context"
	"sort"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	metalstackv1 "github.com/metalkube/metalkube/components/firewall/apis/metalstack/v1"
	"github.com/metalkube/metalkube/components/firewall/compile"
)

// statusWorkers is how many status patches are in flight at once. The
// client's own rate limit (the agent's --kube-api-qps) is what bounds the
// request rate; the workers keep round trips from adding up.
const statusWorkers = 8

// statusJob is the outcome of one sync, for the status writer.
type statusJob struct {
	objs     map[string]client.Object
	res      *compile.Result
	applyErr error
	changed  bool
}

// statusWriter writes policy statuses and the FirewallStatus off the apply
// path: a sync hands over its outcome and returns, so that the next change
// reaches the kernel without waiting for thousands of status patches. Only
// the newest outcome is kept; a newer one replaces the one being written
// (the patches are idempotent: a policy whose status is already right is
// skipped, and the rest are written from the newer outcome).
type statusWriter struct {
	r    *Reconciler
	mu   sync.Mutex
	next *statusJob
	wake chan struct{}
}

var _ manager.Runnable = (*statusWriter)(nil)

func newStatusWriter(r *Reconciler) *statusWriter {
	return &statusWriter{r: r, wake: make(chan struct{}, 1)}
}

// submit hands over a sync's outcome without waiting.
func (w *statusWriter) submit(j *statusJob) {
	w.mu.Lock()
	if w.next != nil && w.next.changed {
		j.changed = true // a change not yet recorded stays a change
	}
	w.next = j
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *statusWriter) take() *statusJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.next
	w.next = nil
	return j
}

func (w *statusWriter) superseded() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next != nil
}

// Start writes statuses until ctx ends.
func (w *statusWriter) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
		if j := w.take(); j != nil {
			w.write(ctx, j)
		}
	}
}

func (w *statusWriter) write(ctx context.Context, j *statusJob) {
	names := make([]string, 0, len(j.res.Policies))
	for name := range j.res.Policies {
		names = append(names, name)
	}
	sort.Strings(names)
	work := make(chan string)
	var wg sync.WaitGroup
	for range statusWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if err := w.r.updatePolicyStatus(ctx, name, j.objs[name], j.res.Policies[name]); err != nil && ctx.Err() == nil {
					w.r.Log.Error(err, "update policy status", "policy", name)
				}
			}
		}()
	}
	for _, name := range names {
		if w.superseded() || ctx.Err() != nil {
			break
		}
		work <- name
	}
	close(work)
	wg.Wait()
	if !w.superseded() && ctx.Err() == nil {
		w.r.updateFirewallStatus(ctx, j.res, j.applyErr, j.changed)
	}
}

// updatePolicyStatus patches one policy's status when it differs.
func (r *Reconciler) updatePolicyStatus(ctx context.Context, name string, obj client.Object, pr compile.PolicyResult) error {
	want := v1alpha1.PolicyStatus{State: v1alpha1.PolicyDeployed}
	if pr.Ignored {
		want = v1alpha1.PolicyStatus{State: v1alpha1.PolicyIgnored, Message: pr.Message}
	}
	var status *v1alpha1.PolicyStatus
	switch o := obj.(type) {
	case *v1alpha1.ClusterwideNetworkPolicy:
		status = &o.Status
	case *metalstackv1.ClusterwideNetworkPolicy:
		status = &o.Status
	default:
		return nil
	}
	want.ObservedGeneration = obj.GetGeneration()
	want.FQDNState = status.FQDNState
	if status.State == want.State && status.Message == want.Message && status.ObservedGeneration == want.ObservedGeneration {
		return nil
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	*status = want
	if err := r.Client.Status().Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if pr.Ignored {
		r.Log.Info("policy ignored", "policy", name, "reason", pr.Message)
	}
	return nil
}
