package app

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	cloudprovider "k8s.io/cloud-provider"
	cloudapp "k8s.io/cloud-provider/app"
	cloudconfig "k8s.io/cloud-provider/app/config"
	"k8s.io/cloud-provider/names"
	ccmoptions "k8s.io/cloud-provider/options"
	cliflag "k8s.io/component-base/cli/flag"
	genericapp "k8s.io/controller-manager/app"
	"k8s.io/controller-manager/controller"
	controllerhealthz "k8s.io/controller-manager/pkg/healthz"
	"k8s.io/utils/ptr"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/metalkube/metalkube/components/ccm/cloud"
	"github.com/metalkube/metalkube/components/ccm/controller/health"
	"github.com/metalkube/metalkube/components/ccm/controller/nodelabels"
	"github.com/metalkube/metalkube/components/ccm/controller/podcidr"
	"github.com/metalkube/metalkube/components/lb/announce"
	"github.com/metalkube/metalkube/components/lb/balancer"
	announcer "github.com/metalkube/metalkube/components/lb/controller/announce"
	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/metal"
)

// Names of metalkube's extra controllers (for --controllers).
const (
	ControllerNodeLabels    = "metalkube-node-labels"
	ControllerPodCIDR       = "metalkube-pod-cidr"
	ControllerLBAnnounce    = "metalkube-lb-announce"
	ControllerBackendHealth = "metalkube-backend-health"

	// LivenessPath is the liveness probe's path: /healthz without the
	// backend's check, which belongs to readiness (/healthz): an outage
	// must not restart the ccm. The chart and the extension probe it.
	LivenessPath = "/healthz?exclude=" + ControllerBackendHealth
)

// Name is the component's name: its command and logger.
const Name = "ccm"

// NewCommand returns `metalkube ccm`.
func NewCommand(ctx context.Context) *cobra.Command {
	return newCommand(ctx, nil)
}

// NewCommandWithBackend returns `metalkube ccm` running against the given
// backend instead of the one the backend flags describe (the tests run the
// production command against a counting backend on the real metal-operator).
func NewCommandWithBackend(ctx context.Context, c metal.Client) *cobra.Command {
	return newCommand(ctx, c)
}

func newCommand(ctx context.Context, c metal.Client) *cobra.Command {
	fail := func(err error) *cobra.Command {
		return &cobra.Command{Use: Name, RunE: func(*cobra.Command, []string) error { return err }}
	}
	// Before upstream binds component-base's logging flags, which freezes
	// the formats.
	if err := component.RegisterKlogFormat(); err != nil {
		return fail(fmt.Errorf("register log format %s: %w", component.KlogFormat, err))
	}
	s, err := ccmoptions.NewCloudControllerManagerOptions()
	if err != nil {
		return fail(err)
	}
	s.KubeCloudShared.CloudProvider.Name = cloud.ProviderName
	s.KubeCloudShared.ConfigureCloudRoutes = false
	o := &Options{}
	r := &runner{o: o, client: c}
	fss := cliflag.NamedFlagSets{}
	o.AddFlags(fss.FlagSet("metalkube"))
	cmd := cloudapp.NewCloudControllerManagerCommand(s, r.initCloud, r.constructors(), names.CCMControllerAliases(), fss, ctx.Done())
	cmd.Use = Name
	cmd.Short = "Cloud-controller-manager for bare-metal clusters (nodes, zones, LoadBalancer IPs)"
	cmd.Long = `ccm is Kubernetes' cloud-controller-manager with metalkube's cloud provider "metal": it
initializes Nodes from the bare-metal backend chosen by --backend (provider ID, addresses,
zone, region and instance type from the server's labels or machine's partition and size),
removes Nodes whose server is gone (never on a backend outage), keeps server labels on Nodes,
hands pod CIDRs from the node networks, and gives Services of type LoadBalancer IPs from the
backend's IP pools, announced through MetalLB or Cilium BGP.`
	cmd.Example = `  # In a cluster on IronCore's metal-operator (flags may also come from --cloud-config):
  metalkube ccm --cloud-provider=metal --kubeconfig=/etc/kubernetes/ccm.kubeconfig \
    --metal-cluster=prod --backend=ironcore --metal-kubeconfig=/etc/metal/kubeconfig \
    --metal-namespace=metal --ip-pool=internet=InClusterIPPool/public-v4

  # On metal-stack's metal-api, LoadBalancer IPs announced with Cilium BGP:
  metalkube ccm --cloud-provider=metal --metal-cluster=prod --backend=metalstack \
    --metal-api-url=https://metal-api.example.com --metal-api-hmac-file=/etc/metal/hmac \
    --metal-project=00000000-0000-0000-0000-000000000001 --metal-partition=fra-equ01 --announce=cilium`
	component.GroupUpstreamFlags(cmd, fss.FlagSet("metalkube"), "cloud-controller-manager flags (k8s.io/cloud-provider)")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := bridgeLogging(cmd); err != nil {
			return err
		}
		if err := ApplyConfigFile(cmd.Flags(), s.KubeCloudShared.CloudProvider.CloudConfigFile); err != nil {
			return err
		}
		if err := o.Validate(r.client == nil); err != nil {
			return err
		}
		if err := r.build(cmd.Context()); err != nil {
			return err
		}
		if kc, err := clientcmd.BuildConfigFromFlags(s.Master, s.Generic.ClientConnection.Kubeconfig); err == nil {
			component.SayIfAPIServerUnreachable(cmd.Context(), r.log, kc)
		}
		return nil
	}
	cmd.SetContext(ctx)
	return cmd
}

// runner holds what one run of the command builds: no package-level state.
type runner struct {
	o      *Options
	client metal.Client
	cloud  *cloud.Cloud
	ctx    context.Context
	log    logr.Logger

	once    sync.Once
	mgr     manager.Manager
	mgrErr  error
	running health.Running
}

// bridgeLogging makes the upstream controller manager log through the root
// command's logger (in cmd's context): component-base's logging format is
// set to the klog bridge and its verbosity to the root's --log-level, unless
// the command line set them.
func bridgeLogging(cmd *cobra.Command) error {
	if _, err := logr.FromContext(cmd.Context()); err != nil {
		return nil // run without the root command (a unit test): klog as upstream has it
	}
	fs := cmd.Flags()
	for flag, value := range map[string]string{"logging-format": component.KlogFormat, "v": strconv.Itoa(component.KlogVerbosity())} {
		if f := fs.Lookup(flag); f != nil && !f.Changed {
			if err := f.Value.Set(value); err != nil {
				return fmt.Errorf("--%s=%s: %w", flag, value, err)
			}
		}
	}
	return nil
}

func (r *runner) build(ctx context.Context) error {
	r.ctx = ctx
	r.log = component.Logger(ctx, Name)
	if r.client == nil {
		c, err := component.NewBackend(ctx, Name, &r.o.Backend)
		if err != nil {
			return err
		}
		r.client = c
	}
	b, err := balancer.New(balancer.Config{Cluster: r.o.Cluster, IPs: r.client, Network: r.o.LB.Network, Network6: r.o.LB.Network6, AdditionalNetworks: r.o.LB.AdditionalNetworks})
	if err != nil {
		return err
	}
	r.cloud, err = cloud.New(cloud.Config{Cluster: r.o.Cluster, Machines: r.client, CacheTTL: r.o.CacheTTL,
		LabelPrefixes: r.o.LabelPrefixes, LoadBalancer: b})
	return err
}

func (r *runner) initCloud(*cloudconfig.CompletedConfig) cloudprovider.Interface { return r.cloud }

// constructors are the upstream controllers minus the route controller (no
// Routes) plus metalkube's.
func (r *runner) constructors() map[string]cloudapp.ControllerInitFuncConstructor {
	out := maps.Clone(cloudapp.DefaultInitFuncConstructors)
	delete(out, names.NodeRouteController)
	for name, start := range map[string]func(context.Context, genericapp.ControllerContext) (controller.Interface, bool, error){
		ControllerNodeLabels:    r.startNodeLabels,
		ControllerPodCIDR:       r.startPodCIDR,
		ControllerLBAnnounce:    r.startAnnounce,
		ControllerBackendHealth: r.startHealth,
	} {
		out[name] = cloudapp.ControllerInitFuncConstructor{
			InitContext: cloudapp.ControllerInitContext{ClientName: "metalkube-controllers"},
			Constructor: func(cloudapp.ControllerInitContext, *cloudconfig.CompletedConfig, cloudprovider.Interface) cloudapp.InitFunc {
				return start
			},
		}
	}
	return out
}

// named is a started controller, as the controller manager sees it.
type named struct {
	name  string
	check controllerhealthz.UnnamedHealthChecker
}

func (n named) Name() string { return n.name }

// HealthChecker implements controller.HealthCheckable.
func (n named) HealthChecker() controllerhealthz.UnnamedHealthChecker { return n.check }

// manager returns the controller-runtime manager running metalkube's
// controllers, starting it on first use. It runs only while this instance
// leads (the init functions are called by the leader) and so needs no leader
// election of its own.
func (r *runner) manager(ctx context.Context, cc genericapp.ControllerContext) (manager.Manager, error) {
	r.once.Do(func() {
		s := runtime.NewScheme()
		if err := clientgoscheme.AddToScheme(s); err != nil {
			r.mgrErr = err
			return
		}
		log := r.log
		cfg, err := cc.ClientBuilder.Config("metalkube-controllers")
		if err != nil {
			r.mgrErr = err
			return
		}
		// Controller names are checked per process; the command's tests run
		// it more than once in theirs. In a pod it runs once: the upstream
		// manager exits when it loses its lease.
		r.mgr, r.mgrErr = manager.New(cfg, manager.Options{Scheme: s, Logger: log,
			Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
			Cache:      component.CacheOptions(),
			Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}})
		if r.mgrErr != nil {
			return
		}
		go r.running.Run(ctx, r.mgr.Start, log)
	})
	return r.mgr, r.mgrErr
}

func (r *runner) startNodeLabels(ctx context.Context, cc genericapp.ControllerContext) (controller.Interface, bool, error) {
	if len(r.o.LabelPrefixes) == 0 {
		return nil, false, nil
	}
	mgr, err := r.manager(ctx, cc)
	if err != nil {
		return nil, false, err
	}
	c := &nodelabels.Reconciler{Client: mgr.GetClient(), Machines: r.cloud.Machines(), Prefixes: r.o.LabelPrefixes, Resync: r.o.LabelResync}
	return named{name: ControllerNodeLabels, check: &r.running}, true, c.AddToManager(mgr)
}

func (r *runner) startPodCIDR(ctx context.Context, cc genericapp.ControllerContext) (controller.Interface, bool, error) {
	fams, err := r.o.PodCIDRFamilies()
	if err != nil || len(fams) == 0 {
		return nil, false, err
	}
	mgr, err := r.manager(ctx, cc)
	if err != nil {
		return nil, false, err
	}
	return named{name: ControllerPodCIDR, check: &r.running}, true, (&podcidr.Reconciler{Client: mgr.GetClient(), Families: fams}).AddToManager(mgr)
}

func (r *runner) startAnnounce(ctx context.Context, cc genericapp.ControllerContext) (controller.Interface, bool, error) {
	if r.o.LB.Announce.Mode == announce.ModeNone {
		return nil, false, nil
	}
	mgr, err := r.manager(ctx, cc)
	if err != nil {
		return nil, false, err
	}
	a := &announcer.Reconciler{Client: mgr.GetClient(), IPs: r.client, Cluster: r.o.Cluster, Config: r.o.LB.Announce,
		ServiceTagPrefix: balancer.TagServicePrefix, Resync: r.o.LB.AnnounceResync}
	return named{name: ControllerLBAnnounce, check: &r.running}, true, a.AddToManager(mgr)
}

func (r *runner) startHealth(ctx context.Context, _ genericapp.ControllerContext) (controller.Interface, bool, error) {
	h := &health.Poller{Backend: r.client, Interval: r.o.HealthInterval, Log: r.log.WithName("backend-health")}
	go h.Run(ctx)
	return named{name: ControllerBackendHealth, check: h}, true, nil
}
