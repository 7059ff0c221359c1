package ironcore

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// claimWatch wakes AllocateIP calls waiting for the IPAM provider when their
// claim changes, from one watch on the namespace's IPAddressClaims shared by
// every waiter, instead of each waiter polling its claim. The watch runs while
// someone waits; waiters still look on their own now and then (a watch can
// break), just far less often.
type claimWatch struct {
	c  client.WithWatch
	ns string

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]bool // claim name -> wake channels
	cancel  context.CancelFunc                // stops the running watch; nil when none runs
}

// wait registers a waiter for the claim named name and returns its wake
// channel and the function that unregisters it.
func (w *claimWatch) wait(name string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiters == nil {
		w.waiters = map[string]map[chan struct{}]bool{}
	}
	if w.waiters[name] == nil {
		w.waiters[name] = map[chan struct{}]bool{}
	}
	w.waiters[name][ch] = true
	if w.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w.cancel = cancel
		go w.run(ctx)
	}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.waiters[name], ch)
		if len(w.waiters[name]) == 0 {
			delete(w.waiters, name)
		}
		if len(w.waiters) == 0 && w.cancel != nil {
			w.cancel()
			w.cancel = nil
		}
	}
}

// run watches the namespace's claims until ctx is done, opening the watch
// again when the API server ends it.
func (w *claimWatch) run(ctx context.Context) {
	for ctx.Err() == nil {
		// From the current resource version: a watch without one would
		// replay every claim of the namespace first.
		list := &ipamv1.IPAddressClaimList{}
		err := w.c.List(ctx, list, client.InNamespace(w.ns), client.Limit(1))
		var wi watch.Interface
		if err == nil {
			wi, err = w.c.Watch(ctx, &ipamv1.IPAddressClaimList{}, client.InNamespace(w.ns),
				&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for ev := range wi.ResultChan() {
			if claim, ok := ev.Object.(*ipamv1.IPAddressClaim); ok {
				w.wake(claim.Name)
			}
		}
		wi.Stop()
	}
}

func (w *claimWatch) wake(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.waiters[name] {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}
