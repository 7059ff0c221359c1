package shoot

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"time"

	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metalapi"
)

// MetalStackProject is the metal-api project the metal-stack shoot's
// resources belong to (its InfrastructureConfig's project).
const MetalStackProject = "p-e2e"

// metalStackImage is the CloudProfile's machine image on metal-stack; the
// emulator knows a build of it.
const metalStackImage = "gardenlinux-1877.0"

// metalStackSuper is the partition's private super network cluster networks
// are carved from.
const metalStackSuper = "tenant-super"

// metalStackUnderlay is the partition's underlay network.
const metalStackUnderlay = "underlay"

// metalStack is the metal-stack side of a flow: the metal-api emulator (the
// real metal-api needs RethinkDB, NSQ and a database-backed IPAM) and the
// kubelets of the machines it boots.
type metalStack struct {
	api    *metalapi.Emulator
	hmac   string
	cancel context.CancelFunc
	done   chan struct{}
}

// startMetalStack starts the metal-api emulator with a machine per server in
// the first zone's partition, the partition's super network and the shared
// internet network LoadBalancer IPs come from, and a kubelet for every
// machine it boots.
func (f *Flow) startMetalStack(ctx context.Context) error {
	zone := f.zones()[0]
	key := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	api := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000e2e0", zone, "c1-large", f.Servers),
		Networks: []metalapi.Network{
			{ID: metalStackSuper, Partition: zone, Prefixes: []netip.Prefix{NodePrefix}, PrivateSuper: true, ChildLength: 24},
			{ID: LBNetwork, Prefixes: []netip.Prefix{LBPrefix}, Shared: true},
			// metal-api adds the partition's underlay to every firewall.
			{ID: metalStackUnderlay, Partition: zone, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.255.0.0/24")}, Underlay: true},
		},
		Projects: []string{MetalStackProject},
		HMAC:     map[string]string{"Metal-Admin": key},
		Images:   append(metalapi.DefaultImages(), metalapi.Image{ID: metalStackImage + ".20261101", Features: []string{"machine"}}),
	})
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.ms = &metalStack{api: api, hmac: key, cancel: cancel, done: make(chan struct{})}
	go f.ms.kubelets(kctx, f.Env.Client)
	f.detail("metal-api emulator at %s: %d machines of c1-large in partition %s, LoadBalancer network %s %s", api.URL(), f.Servers, zone, LBNetwork, LBPrefix)
	return nil
}

func (m *metalStack) stop() {
	m.cancel()
	<-m.done
	m.api.Close()
}

// kubelets registers a Node for every allocated machine that is powered on,
// named by the hostname in its user data, as its kubelet would on boot.
func (m *metalStack) kubelets(ctx context.Context, c client.Client) {
	defer close(m.done)
	booted := map[string]bool{}
	for {
		for _, id := range m.api.Allocated() {
			if booted[id] || m.api.Power(id) != "ON" {
				continue
			}
			ud, err := base64.StdEncoding.DecodeString(m.api.UserData(id))
			if err != nil {
				ud = []byte(m.api.UserData(id))
			}
			name := fleet.Hostname(ud)
			if name == "" {
				continue
			}
			if err := fleet.RegisterNode(ctx, c, fleet.NodeSpec{Name: name, SystemUUID: id, ExternalCloudProvider: true}); err == nil {
				booted[id] = true
			}
		}
		for id := range booted {
			if m.api.UserData(id) == "" {
				delete(booted, id) // freed: the machine may boot again
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// checkMetalStackProject checks that the shoot's cluster network (the
// extension's Infrastructure, with the shoot's credentials) and its machines
// (the mcm sidecar) are in the project of its InfrastructureConfig.
func (f *Flow) checkMetalStackProject() error {
	var wrong []string
	nets, machines := f.ms.api.Networks(), f.ms.api.Allocated()
	for _, n := range nets {
		if p := f.ms.api.NetworkProject(n); p != MetalStackProject {
			wrong = append(wrong, fmt.Sprintf("network %s in project %q", n, p))
		}
	}
	for _, m := range machines {
		if p := f.ms.api.MachineProject(m); p != MetalStackProject {
			wrong = append(wrong, fmt.Sprintf("machine %s in project %q", m, p))
		}
	}
	if len(nets) == 0 || len(machines) == 0 || len(wrong) > 0 {
		return fmt.Errorf("want the cluster network and the machines in project %s: %d networks, %d machines; %s", MetalStackProject, len(nets), len(machines), strings.Join(wrong, ", "))
	}
	f.detail("metal-api: cluster network and %d machines in project %s", len(machines), MetalStackProject)
	return nil
}

// checkMetalStackLeaks fails on any machine still allocated, IP or cluster
// network left in metal-api, or Machine left in the shoot namespace.
func (f *Flow) checkMetalStackLeaks(ctx context.Context) error {
	var leaks []string
	err := framework.Eventually(ctx, "every machine, IP and network to be free in metal-api", 2*time.Minute, interval, func(ctx context.Context) (bool, error) {
		leaks = nil
		for _, id := range f.ms.api.Allocated() {
			leaks = append(leaks, "machine "+id)
		}
		for _, ip := range f.ms.api.IPs() {
			leaks = append(leaks, "IP "+ip)
		}
		for _, n := range f.ms.api.Networks() {
			leaks = append(leaks, "network "+n)
		}
		machines := &machinev1alpha1.MachineList{}
		if err := f.Env.Client.List(ctx, machines, client.InNamespace(f.ns)); err != nil {
			return false, err
		}
		for _, x := range machines.Items {
			leaks = append(leaks, "Machine "+x.Name)
		}
		return len(leaks) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w: left behind: %s", err, strings.Join(leaks, ", "))
	}
	f.detail("metal-api: all %d machines free, no IP, no cluster network; no Machine left", f.Servers)
	return nil
}
