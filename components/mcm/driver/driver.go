package driver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	mcmdriver "github.com/gardener/machine-controller-manager/pkg/util/provider/driver"
	"github.com/gardener/machine-controller-manager/pkg/util/provider/machinecodes/codes"
	"github.com/gardener/machine-controller-manager/pkg/util/provider/machinecodes/status"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	api "github.com/metalkube/metalkube/shared/apis/mcm/v1alpha1"
	"github.com/metalkube/metalkube/shared/metal"
)

// Backend is what the driver needs of the bare-metal client.
type Backend interface {
	metal.MachineAllocator
	metal.MachineReader
	metal.MachinePower
	AllocateIP(ctx context.Context, spec metal.IPSpec) (*metal.IP, error)
	FreeIP(ctx context.Context, id string) error
	FindIPs(ctx context.Context, q metal.IPQuery) ([]metal.IP, error)
}

// Config configures the driver.
type Config struct {
	// Backend is the bare-metal client.
	Backend Backend
	// InitializeTimeout bounds how long InitializeMachine waits for the server
	// to run before answering Uninitialized; default 10s.
	InitializeTimeout time.Duration
	// DeleteTimeout bounds how long DeleteMachine waits for the server to be
	// released before answering (retryable) DeadlineExceeded; default 10s.
	DeleteTimeout time.Duration
	// PollInterval is how long a wait first waits between two looks at the
	// backend (growing by half each time, up to 2s); default 250ms.
	PollInterval time.Duration
	// CSIDrivers are the CSI drivers whose volumes GetVolumeIDs reports; empty:
	// every CSI driver.
	CSIDrivers []string
	// Log receives the driver's log; never user data.
	Log logr.Logger
}

// Driver implements driver.Driver.
type Driver struct {
	cfg Config
}

var _ mcmdriver.Driver = (*Driver)(nil)

// New returns a driver.
func New(cfg Config) (*Driver, error) {
	if cfg.Backend == nil {
		return nil, errors.New("mcm driver: no backend")
	}
	if cfg.InitializeTimeout == 0 {
		cfg.InitializeTimeout = 10 * time.Second
	}
	if cfg.DeleteTimeout == 0 {
		cfg.DeleteTimeout = 10 * time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.Log.GetSink() == nil {
		cfg.Log = logr.Discard()
	}
	return &Driver{cfg: cfg}, nil
}

// spec decodes, defaults and validates the class's provider spec.
// requestSpec checks that a request names its Machine and returns the provider
// spec of its MachineClass; op names the call in the error.
func requestSpec(op string, machine *v1alpha1.Machine, class *v1alpha1.MachineClass) (*api.ProviderSpec, error) {
	if machine == nil {
		return nil, status.Error(codes.InvalidArgument, op+": no Machine in the request")
	}
	return spec(class)
}

func spec(class *v1alpha1.MachineClass) (*api.ProviderSpec, error) {
	if class == nil {
		return nil, status.Error(codes.InvalidArgument, "no MachineClass in the request")
	}
	s, errs := api.Parse(class.ProviderSpec.Raw, class.Namespace)
	if len(errs) > 0 {
		return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("MachineClass %s/%s: %v", class.Namespace, class.Name, errs.ToAggregate()))
	}
	return s, nil
}

// statusError maps a backend error to a machine-controller-manager status.
func statusError(err error) error {
	if err == nil {
		return nil
	}
	if st := (*status.Status)(nil); errors.As(err, &st) {
		return err // already a machine-controller-manager status
	}
	code := codes.Internal
	switch {
	case errors.Is(err, metal.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, metal.ErrUnavailable):
		code = codes.Unavailable
	case errors.Is(err, metal.ErrNoCapacity):
		code = codes.ResourceExhausted
	case errors.Is(err, metal.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, metal.ErrConflict):
		code = codes.AlreadyExists
	case errors.Is(err, metal.ErrUnsupported):
		code = codes.Unimplemented
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}

// machineSpec is the backend request for a Machine.
func machineSpec(m *v1alpha1.Machine, class *v1alpha1.MachineClass, s *api.ProviderSpec, userData []byte) metal.MachineSpec {
	tags := maps.Clone(s.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	tags[api.TagMachine] = m.Name
	tags[api.TagMachineClass] = class.Name
	return metal.MachineSpec{
		Name: m.Name, Cluster: s.Cluster, Image: s.Image, Size: s.Size, Partition: s.Partition,
		Selector: maps.Clone(s.ServerLabels), Hostname: m.Name, UserData: userData,
		Networks: s.Networks, Tags: tags, SSHKeys: s.SSHKeys,
		// Boot in InitializeMachine, once addresses are in place.
		PowerOff: true,
	}
}

// nodeName is the node a machine registers as: its hostname, the Machine name.
func nodeName(m *metal.Machine, machineName string) string {
	if m != nil && m.Hostname != "" {
		return m.Hostname
	}
	return machineName
}

func nodeAddresses(m *metal.Machine, ips []metal.IP) []corev1.NodeAddress {
	var out []corev1.NodeAddress
	for _, a := range m.Addresses {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeAddressType(a.Type), Address: a.Address})
	}
	for _, ip := range ips {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip.Address.String()})
	}
	return out
}

// maxPoll caps the growing interval between two looks of a wait.
const maxPoll = 2 * time.Second

// wait polls check, at growing intervals from PollInterval up to maxPoll,
// until it reports done, or the timeout passes. An
// unavailable backend is asked again until then: a blip must not throw away a
// wait that is nearly over. Other errors end the wait; so does the timeout,
// with the last unavailable error if the backend was not reachable at the end.
func (d *Driver) wait(ctx context.Context, timeout time.Duration, check func() (bool, error)) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for delay := d.cfg.PollInterval; ; delay = min(delay*3/2, maxPoll) {
		done, err := check()
		switch {
		case done:
			return true, nil
		case err != nil && !metal.IsUnavailable(err):
			return false, err
		}
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(delay):
		}
	}
}

// Config returns the driver's configuration, defaults filled in.
func (d *Driver) Config() Config { return d.cfg }
