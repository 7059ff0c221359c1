package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal"
)

// joinNodes allocates n powered-off machines in cl, registers their Nodes at
// once as kubelets with --cloud-provider=external would, and waits until the
// ccm has initialized them all. It returns the time that took and the
// backend calls (machine API calls and HTTP requests) made meanwhile.
func joinNodes(b *testing.B, cl string, n int) (time.Duration, int64, int64) {
	ctx := context.Background()
	if _, err := hw.Add(ctx, size, n, 15*time.Minute); err != nil {
		b.Fatal(err)
	}
	var ms []*metal.Machine
	for i := range n {
		m, err := backend.AllocateMachine(ctx, metal.MachineSpec{Name: fmt.Sprintf("%s-%03d", cl, i), Cluster: cl, Image: "flatcar", Size: size, PowerOff: true})
		if err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		all, err := backend.ListMachines(ctx, cl)
		if err != nil {
			b.Fatal(err)
		}
		bound := 0
		for i := range all {
			if all[i].SystemUUID != "" {
				bound++
			}
		}
		if bound == n {
			for i := range all {
				ms[i] = &all[i]
			}
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d machines bound", bound, n)
		}
	}
	list0, http0 := backend.list.Load(), httpReq.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: m.Name, Labels: map[string]string{corev1.LabelHostname: m.Name}},
				Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: fleet.TaintUninitialized, Value: "true", Effect: corev1.TaintEffectNoSchedule}}}}
			if err := env.Client.Create(ctx, node); err != nil {
				b.Error(err)
				return
			}
			now := metav1.Now()
			node.Status.NodeInfo.SystemUUID = m.SystemUUID
			node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}
			if err := env.Client.Status().Update(ctx, node); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		nodes := &corev1.NodeList{}
		if err := env.Client.List(ctx, nodes); err != nil {
			b.Fatal(err)
		}
		done := 0
		for i := range nodes.Items {
			nd := &nodes.Items[i]
			if len(nd.Name) > len(cl) && nd.Name[:len(cl)] == cl && nd.Spec.ProviderID != "" && !hasTaint(nd, fleet.TaintUninitialized) {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d nodes initialized", done, n)
		}
	}
	took := time.Since(start)
	lists, reqs := backend.list.Load()-list0, httpReq.Load()-http0
	b.Cleanup(func() {
		for _, m := range ms {
			_ = env.Client.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: m.Name}})
			_ = backend.FreeMachine(ctx, m.ID, metal.OwnerOf(m))
		}
	})
	return took, lists, reqs
}

// BenchmarkNodesJoin300 measures how long the ccm takes to initialize 300
// Nodes registering at once, and the backend calls it makes per Node: with
// the upstream default client rate limit (--kube-api-qps=20, which bounds the
// Node updates) and with a raised one.
func BenchmarkNodesJoin300(b *testing.B) {
	for _, qps := range []int{20, 200} {
		b.Run(fmt.Sprintf("kube-api-qps-%d", qps), func(b *testing.B) {
			for i := range b.N {
				cl := fmt.Sprintf("join300-q%d-%d", qps, i)
				startCCM(b, "--metal-cluster="+cl, "--machine-cache-ttl=10s",
					fmt.Sprintf("--kube-api-qps=%d", qps), fmt.Sprintf("--kube-api-burst=%d", qps*3/2))
				took, lists, reqs := joinNodes(b, cl, 300)
				b.ReportMetric(took.Seconds(), "s-until-all-initialized")
				b.ReportMetric(float64(lists)/300, "ListMachines/node")
				b.ReportMetric(float64(reqs)/300, "backend-HTTP/node")
			}
		})
	}
}

// BenchmarkNodeSyncBackendCalls compares the backend calls per Node sync of
// the cached provider with a no-cache baseline (every call lists), in the
// same run, on 30 Nodes joining at once.
func BenchmarkNodeSyncBackendCalls(b *testing.B) {
	for _, tc := range []struct{ name, ttl string }{{"cache-10s", "10s"}, {"no-cache", "0s"}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := range b.N {
				cl := fmt.Sprintf("sync-%s-%d", tc.name, i)
				startCCM(b, "--metal-cluster="+cl, "--machine-cache-ttl="+tc.ttl)
				took, lists, reqs := joinNodes(b, cl, 30)
				b.ReportMetric(took.Seconds(), "s-until-all-initialized")
				b.ReportMetric(float64(lists)/30, "ListMachines/node")
				b.ReportMetric(float64(reqs)/30, "backend-HTTP/node")
			}
		})
	}
}

var _ client.Object = (*corev1.Node)(nil)
