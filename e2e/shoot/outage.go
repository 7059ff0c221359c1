package shoot

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/e2e/framework"
)

// startBackendProxy puts a cuttable proxy between the components and their
// backend (metal-operator's API, the test control plane) and writes the
// kubeconfig the components reach the backend with.
func (f *Flow) startBackendProxy() error {
	kc, err := clientcmd.LoadFromFile(f.kubeconfig)
	if err != nil {
		return err
	}
	var target string
	for _, c := range kc.Clusters {
		u, err := urlHost(c.Server)
		if err != nil {
			return err
		}
		target = u
	}
	host := "127.0.0.1"
	if f.Kubelet != nil {
		host = f.Kubelet.Host // the pods reach the backend there
	}
	if f.proxy, err = framework.NewProxyOn(host, target); err != nil {
		return err
	}
	for _, c := range kc.Clusters {
		c.Server = "https://" + f.proxy.Addr()
	}
	if err := os.MkdirAll(f.LogDir, 0o755); err != nil {
		return err
	}
	f.backendKubeconfig = filepath.Join(f.LogDir, "backend.kubeconfig")
	return clientcmd.WriteToFile(*kc, f.backendKubeconfig)
}

// snapshot is what must survive an outage: Nodes, the backend's claims and
// machine-controller-manager's Machines, by name and UID.
type snapshot struct{ nodes, claims, machines map[string]types.UID }

func (f *Flow) snapshot(ctx context.Context) (snapshot, error) {
	c := f.Env.Client
	nodes, claims, machines := &corev1.NodeList{}, &metalv1alpha1.ServerClaimList{}, &machinev1alpha1.MachineList{}
	if err := c.List(ctx, nodes); err != nil {
		return snapshot{}, err
	}
	if err := c.List(ctx, claims, client.InNamespace(MetalNamespace)); err != nil {
		return snapshot{}, err
	}
	if err := c.List(ctx, machines, client.InNamespace(f.ns)); err != nil {
		return snapshot{}, err
	}
	s := snapshot{nodes: map[string]types.UID{}, claims: map[string]types.UID{}, machines: map[string]types.UID{}}
	for i := range nodes.Items {
		if nodes.Items[i].DeletionTimestamp == nil {
			s.nodes[nodes.Items[i].Name] = nodes.Items[i].UID
		}
	}
	for i := range claims.Items {
		if claims.Items[i].DeletionTimestamp == nil {
			s.claims[claims.Items[i].Name] = claims.Items[i].UID
		}
	}
	for i := range machines.Items {
		if machines.Items[i].DeletionTimestamp == nil {
			s.machines[machines.Items[i].Name] = machines.Items[i].UID
		}
	}
	return s, nil
}

// lost lists what of before is gone (or replaced) in after.
func lost(kind string, before, after map[string]types.UID) []string {
	var out []string
	for name, uid := range before {
		if after[name] != uid {
			out = append(out, kind+" "+name)
		}
	}
	return out
}

// backendOutage cuts every component off the backend for f.Outage, then
// checks that no Node was deleted, no machine freed or replaced and no
// component process exited (in a pod: restarted).
func (f *Flow) backendOutage(ctx context.Context) error {
	before, err := f.snapshot(ctx)
	if err != nil {
		return err
	}
	f.proxy.SetDown(true)
	f.detail("backend unreachable for %s: %d Nodes, %d ServerClaims, %d Machines", f.Outage, len(before.nodes), len(before.claims), len(before.machines))
	// The outage lasts its length; nothing is awaited.
	select {
	case <-time.After(f.Outage):
	case <-ctx.Done():
		f.proxy.SetDown(false)
		return ctx.Err()
	}
	after, err := f.snapshot(ctx)
	refused := f.proxy.Refused()
	f.proxy.SetDown(false)
	if err != nil {
		return err
	}
	gone := append(append(lost("Node", before.nodes, after.nodes), lost("ServerClaim", before.claims, after.claims)...), lost("Machine", before.machines, after.machines)...)
	if dead := f.deadProcesses(); dead != "" || len(gone) > 0 {
		return fmt.Errorf("during a %s backend outage: deleted or replaced %v%s", f.Outage, gone, dead)
	}
	if refused == 0 {
		return fmt.Errorf("no component tried to reach the backend during a %s outage: the outage tested nothing", f.Outage)
	}
	f.detail("backend back: %d connection attempts refused meanwhile; 0 Nodes deleted, 0 machines freed, 0 component restarts", refused)
	return nil
}

func urlHost(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("kubeconfig server %q: no host (%v)", server, err)
	}
	return u.Host, nil
}
