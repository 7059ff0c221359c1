package driver

import (
	"context"
	"fmt"
	"time"

	mcmdriver "github.com/gardener/machine-controller-manager/pkg/util/provider/driver"
	"github.com/gardener/machine-controller-manager/pkg/util/provider/machinecodes/codes"
	"github.com/gardener/machine-controller-manager/pkg/util/provider/machinecodes/status"

	api "github.com/metalkube/metalkube/shared/apis/mcm/v1alpha1"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/providerid"
)

// CreateMachine allocates the Machine's server. It is idempotent: a machine
// already allocated for the Machine is returned as it is.
func (d *Driver) CreateMachine(ctx context.Context, req *mcmdriver.CreateMachineRequest) (*mcmdriver.CreateMachineResponse, error) {
	s, err := requestSpec("create machine", req.Machine, req.MachineClass)
	if err != nil {
		return nil, err
	}
	userData, err := userData(req.Secret, req.Machine.Name)
	if err != nil {
		return nil, err
	}
	log := d.cfg.Log.WithValues("machine", req.Machine.Name, "cluster", s.Cluster)
	m, err := d.cfg.Backend.FindMachine(ctx, s.Cluster, req.Machine.Name)
	switch {
	case err == nil:
		log.V(1).Info("machine already allocated", "id", m.ID, "server", m.Server)
	case metal.IsNotFound(err):
		m, err = d.cfg.Backend.AllocateMachine(ctx, machineSpec(req.Machine, req.MachineClass, s, userData))
		if err != nil {
			log.Info("allocate machine failed", "error", err.Error())
			return nil, statusError(fmt.Errorf("create machine %s: %w", req.Machine.Name, err))
		}
		log.Info("machine allocated", "id", m.ID, "providerID", m.ProviderID, "state", m.State)
	default:
		return nil, statusError(fmt.Errorf("create machine %s: %w", req.Machine.Name, err))
	}
	return &mcmdriver.CreateMachineResponse{
		ProviderID: m.ProviderID, NodeName: nodeName(m, req.Machine.Name),
		LastKnownState: string(m.State), Addresses: nodeAddresses(m, nil),
	}, nil
}

// InitializeMachine allocates the Machine's IP addresses and powers its server
// on, then waits (bounded) for it to run. Until it runs it answers
// codes.Uninitialized, and machine-controller-manager calls again.
func (d *Driver) InitializeMachine(ctx context.Context, req *mcmdriver.InitializeMachineRequest) (*mcmdriver.InitializeMachineResponse, error) {
	s, err := requestSpec("initialize machine", req.Machine, req.MachineClass)
	if err != nil {
		return nil, err
	}
	name := req.Machine.Name
	m, err := d.cfg.Backend.FindMachine(ctx, s.Cluster, name)
	if err != nil {
		return nil, statusError(fmt.Errorf("initialize machine %s: %w", name, err))
	}
	ips, err := d.allocateIPs(ctx, s, name)
	if err != nil {
		return nil, err
	}
	if !m.PoweredOn && m.State != metal.MachineLost {
		if err := d.cfg.Backend.SetMachinePower(ctx, m.ID, true); err != nil {
			return nil, statusError(fmt.Errorf("initialize machine %s: power on: %w", name, err))
		}
	}
	running, err := d.wait(ctx, d.cfg.InitializeTimeout, func() (bool, error) {
		if m.State == metal.MachineRunning {
			return true, nil
		}
		got, err := d.cfg.Backend.GetMachine(ctx, m.ID)
		if err != nil {
			return false, err
		}
		m = got
		return m.State == metal.MachineRunning, nil
	})
	if err != nil {
		return nil, statusError(fmt.Errorf("initialize machine %s: %w", name, err))
	}
	if !running {
		return nil, status.Error(codes.Uninitialized, fmt.Sprintf("initialize machine %s: server %q is %s, not yet running", name, m.Server, m.State))
	}
	return &mcmdriver.InitializeMachineResponse{ProviderID: m.ProviderID, NodeName: nodeName(m, name), Addresses: nodeAddresses(m, ips)}, nil
}

// allocateIPs allocates the spec's addresses for a machine; idempotent on the
// machine and network names. The wait for an address is cut short by the
// driver's own deadline, so that a backend that gives up a claim it waited for
// in vain keeps it instead (the next call picks the claim up again): a claim
// given up while its address is being assigned could be found again half
// deleted.
func (d *Driver) allocateIPs(ctx context.Context, s *api.ProviderSpec, machine string) ([]metal.IP, error) {
	ctx, cancel := context.WithTimeout(ctx, min(d.cfg.InitializeTimeout, ipWait))
	defer cancel()
	var out []metal.IP
	for _, a := range s.IPAddresses {
		ip, err := d.cfg.Backend.AllocateIP(ctx, metal.IPSpec{
			Name: ipName(machine, a.Network), Cluster: s.Cluster, Network: a.Network, Type: metal.IPEphemeral,
			Tags: map[string]string{api.TagMachine: machine},
		})
		if err != nil {
			return nil, statusError(fmt.Errorf("initialize machine %s: allocate IP in %s: %w", machine, a.Network, err))
		}
		out = append(out, *ip)
	}
	return out, nil
}

func ipName(machine, network string) string { return machine + "-" + network }

// ipWait bounds one call's wait for addresses; below the ironcore backend's
// default IP timeout (10s).
const ipWait = 5 * time.Second

// DeleteMachine frees the Machine's server and addresses. It returns once the
// backend has released the server; while it has not, it answers
// codes.DeadlineExceeded and machine-controller-manager calls again. A Machine
// without a server is deleted. The machine is found by (cluster, Machine
// name); when it is not found, the machine its provider ID names is freed
// again, so that a free interrupted part way is completed. Every free names
// the owner (cluster, Machine name): the provider ID's ID may belong to
// another cluster by now (metal-stack machine IDs are server UUIDs, handed
// out again), and such a machine is left alone.
func (d *Driver) DeleteMachine(ctx context.Context, req *mcmdriver.DeleteMachineRequest) (*mcmdriver.DeleteMachineResponse, error) {
	s, err := requestSpec("delete machine", req.Machine, req.MachineClass)
	if err != nil {
		return nil, err
	}
	name := req.Machine.Name
	log := d.cfg.Log.WithValues("machine", name, "cluster", s.Cluster)
	owner := metal.Owner{Cluster: s.Cluster, Name: name}
	m, err := d.cfg.Backend.FindMachine(ctx, s.Cluster, name)
	switch {
	case metal.IsNotFound(err):
		// Gone, or half freed by an earlier call that failed part way (a
		// backend may free a machine in several requests): free it again by
		// the ID its provider ID names, which is idempotent.
		if id, perr := providerid.Parse(req.Machine.Spec.ProviderID); perr == nil {
			err := d.cfg.Backend.FreeMachine(ctx, id.Name, owner)
			switch {
			case metal.IsConflict(err):
				// Reused by another owner: ours is gone.
				log.Info("provider ID names a machine of another owner now; nothing freed", "providerID", req.Machine.Spec.ProviderID, "reason", err.Error())
			case err != nil:
				return nil, statusError(fmt.Errorf("delete machine %s: %w", name, err))
			}
		}
	case err != nil:
		return nil, statusError(fmt.Errorf("delete machine %s: %w", name, err))
	default:
		if err := d.cfg.Backend.FreeMachine(ctx, m.ID, owner); err != nil {
			return nil, statusError(fmt.Errorf("delete machine %s: %w", name, err))
		}
		gone, err := d.wait(ctx, d.cfg.DeleteTimeout, func() (bool, error) {
			_, err := d.cfg.Backend.FindMachine(ctx, s.Cluster, name)
			if metal.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			return nil, statusError(fmt.Errorf("delete machine %s: %w", name, err))
		}
		if !gone {
			return &mcmdriver.DeleteMachineResponse{LastKnownState: "Releasing"},
				status.Error(codes.DeadlineExceeded, fmt.Sprintf("delete machine %s: server %q is still being released", name, m.Server))
		}
		log.Info("machine freed", "id", m.ID, "server", m.Server)
	}
	if err := d.freeIPs(ctx, s.Cluster, name); err != nil {
		return nil, err
	}
	return &mcmdriver.DeleteMachineResponse{}, nil
}

func (d *Driver) freeIPs(ctx context.Context, cluster, machine string) error {
	ips, err := d.cfg.Backend.FindIPs(ctx, metal.IPQuery{Cluster: cluster, Tags: map[string]string{api.TagMachine: machine}})
	if err != nil {
		return statusError(fmt.Errorf("delete machine %s: find IPs: %w", machine, err))
	}
	for _, ip := range ips {
		if err := d.cfg.Backend.FreeIP(ctx, ip.ID); err != nil {
			return statusError(fmt.Errorf("delete machine %s: free IP %s: %w", machine, ip.Address, err))
		}
	}
	return nil
}

// GetMachineStatus reports the Machine's server: codes.NotFound when it has
// none, codes.Uninitialized (with provider ID and node name filled in) while
// it does not run yet.
func (d *Driver) GetMachineStatus(ctx context.Context, req *mcmdriver.GetMachineStatusRequest) (*mcmdriver.GetMachineStatusResponse, error) {
	s, err := requestSpec("get machine status", req.Machine, req.MachineClass)
	if err != nil {
		return nil, err
	}
	name := req.Machine.Name
	m, err := d.cfg.Backend.FindMachine(ctx, s.Cluster, name)
	if err != nil {
		return nil, statusError(fmt.Errorf("get machine status %s: %w", name, err))
	}
	resp := &mcmdriver.GetMachineStatusResponse{ProviderID: m.ProviderID, NodeName: nodeName(m, name), Addresses: nodeAddresses(m, nil)}
	switch m.State {
	case metal.MachineRunning:
		return resp, nil
	case metal.MachineLost:
		// The server is gone or broken: its node goes unhealthy and
		// machine-controller-manager replaces the Machine.
		d.cfg.Log.Info("machine's server lost", "machine", name, "server", m.Server)
		return resp, nil
	}
	return resp, status.Error(codes.Uninitialized, fmt.Sprintf("machine %s is %s, not running", name, m.State))
}

// ListMachines returns the machines of the class's cluster, provider ID ->
// Machine name.
func (d *Driver) ListMachines(ctx context.Context, req *mcmdriver.ListMachinesRequest) (*mcmdriver.ListMachinesResponse, error) {
	s, err := spec(req.MachineClass)
	if err != nil {
		return nil, err
	}
	ms, err := d.cfg.Backend.ListMachines(ctx, s.Cluster)
	if err != nil {
		return nil, statusError(fmt.Errorf("list machines of cluster %s: %w", s.Cluster, err))
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.ProviderID] = m.Name
	}
	return &mcmdriver.ListMachinesResponse{MachineList: out}, nil
}

// GenerateMachineClassForMigration is not supported: there is no
// provider-specific machine class to migrate from.
func (d *Driver) GenerateMachineClassForMigration(context.Context, *mcmdriver.GenerateMachineClassForMigrationRequest) (*mcmdriver.GenerateMachineClassForMigrationResponse, error) {
	return nil, status.Error(codes.Unimplemented, "metalkube has no provider-specific machine class to migrate from; use MachineClass with a mcm.metalkube.io/v1alpha1 providerSpec")
}
