package cloud

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/providerid"
)

// MachineCache caches a cluster's machine list for a short TTL. Concurrent
// callers share one backend call: while a list is being fetched the others
// wait for it instead of asking the backend again.
type MachineCache struct {
	reader  metal.MachineReader
	cluster string
	ttl     time.Duration
	now     func() time.Time

	mu       sync.Mutex // held across the backend call: callers queue behind it
	machines []metal.Machine
	fetched  time.Time
}

// NewMachineCache returns a cache of cluster's machines read from r; ttl 0
// disables caching (every call lists).
func NewMachineCache(r metal.MachineReader, cluster string, ttl time.Duration) *MachineCache {
	return &MachineCache{reader: r, cluster: cluster, ttl: ttl, now: time.Now}
}

// List returns the cluster's machines, no older than maxAge (the TTL if
// maxAge is negative).
func (c *MachineCache) List(ctx context.Context, maxAge time.Duration) ([]metal.Machine, error) {
	if maxAge < 0 {
		maxAge = c.ttl
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fetched.IsZero() && c.now().Sub(c.fetched) < maxAge {
		return c.machines, nil
	}
	start := c.now()
	ms, err := c.reader.ListMachines(ctx, c.cluster)
	if err != nil {
		return nil, fmt.Errorf("list machines of cluster %s: %w", c.cluster, err)
	}
	c.machines, c.fetched = ms, start
	return ms, nil
}

// Invalidate drops the cached list.
func (c *MachineCache) Invalidate() {
	c.mu.Lock()
	c.fetched = time.Time{}
	c.mu.Unlock()
}

// refreshAfter is the minimum age of a cached list before a miss refreshes it;
// it bounds the backend calls a Node that has no machine can cause.
const refreshAfter = time.Second

// Find returns the machine of node, or nil if the cluster has none. A miss in
// the cached list is retried with a fresh one (unless it is younger than a
// second), so a machine allocated after the last list is never reported
// missing.
func (c *MachineCache) Find(ctx context.Context, node *corev1.Node) (*metal.Machine, error) {
	ms, err := c.List(ctx, -1)
	if err != nil {
		return nil, err
	}
	if m := Match(ms, node); m != nil {
		return m, nil
	}
	ms, err = c.List(ctx, min(refreshAfter, c.ttl))
	if err != nil {
		return nil, err
	}
	return Match(ms, node), nil
}

// Match finds node's machine in ms: by provider ID if the node has one (and
// only by it: a provider ID is authoritative), else by system UUID, else by
// the node name against the machine's hostname or name.
func Match(ms []metal.Machine, node *corev1.Node) *metal.Machine {
	if pid := node.Spec.ProviderID; pid != "" {
		want, err := providerid.Parse(pid)
		if err != nil {
			return nil
		}
		for i := range ms {
			if got, err := providerid.Parse(ms[i].ProviderID); err == nil && got == want {
				return &ms[i]
			}
		}
		return nil
	}
	if uuid := node.Status.NodeInfo.SystemUUID; uuid != "" {
		for i := range ms {
			if ms[i].SystemUUID != "" && strings.EqualFold(ms[i].SystemUUID, uuid) {
				return &ms[i]
			}
		}
	}
	for i := range ms {
		if ms[i].Hostname == node.Name || (ms[i].Hostname == "" && ms[i].Name == node.Name) {
			return &ms[i]
		}
	}
	return nil
}
