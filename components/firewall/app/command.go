package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/go-logr/logr"
	"github.com/google/nftables"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	metalstackv1 "github.com/metalkube/metalkube/components/firewall/apis/metalstack/v1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/controller/ruleset"
	"github.com/metalkube/metalkube/components/firewall/fqdn"
	"github.com/metalkube/metalkube/components/firewall/ids"
	"github.com/metalkube/metalkube/components/firewall/metrics"
	"github.com/metalkube/metalkube/components/firewall/nft"
	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/version"
)

// NewCommand returns `metalkube firewall`.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "firewall",
		Short: "Firewall agent: ClusterwideNetworkPolicies and Services -> one nftables ruleset",
		Long: `The firewall agent runs on a firewall host between a cluster's private network and
the outside. It compiles ClusterwideNetworkPolicies and Services of type LoadBalancer
and NodePort into one nftables table and applies it atomically through netlink,
repairs drift, and exports per-rule counters to Prometheus.`,
		Example: `  # On the firewall host, between its uplink and the cluster's network:
  metalkube firewall --kubeconfig=/etc/firewall/shoot.kubeconfig --external-interfaces=vrf104009 \
    --internal-interfaces=vlan3981 --node-cidrs=10.0.0.0/22 --pod-cidrs=10.240.0.0/13 --snat=vrf104009

  # Review the ruleset a policy file gives, on any machine (interfaces not given are named by placeholders):
  metalkube firewall --dry-run --policy-file=policies.yaml --node-cidrs=10.0.0.0/22`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.DefaultFirewallName(cmd.Flags().Changed(FlagFirewallName)); err != nil {
				return err
			}
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			if o.DryRun {
				return DryRun(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return Run(cmd.Context(), o)
		},
	}
	cmd.SetContext(ctx)
	o.AddFlags(cmd.Flags())
	return cmd
}

// Run runs the agent until ctx ends.
func Run(ctx context.Context, o *Options) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	rc, err := o.Runtime.Complete()
	if err != nil {
		return err
	}
	log := component.Logger(ctx, Name)
	ctx = logr.NewContext(ctx, log)
	var nsFD int
	var connOpts []nftables.ConnOption
	if o.NetNS != "" {
		fd, err := unix.Open(o.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("--%s: %w", FlagNetNS, err)
		}
		defer unix.Close(fd)
		nsFD = fd
		connOpts = append(connOpts, nftables.WithNetNSFd(fd))
	}
	applier, err := nft.NewApplier(connOpts...)
	if err != nil {
		return err
	}
	defer applier.Close() // the ruleset stays in the kernel
	if o.FailClosed {
		// before the API server has answered: a fresh host forwards nothing
		if installed, err := applier.InstallIfAbsent(compile.FailClosed(cfg)); err != nil {
			return fmt.Errorf("install the fail-closed table: %w", err)
		} else if installed {
			log.Info("no ruleset in the kernel yet: forwarding dropped until the first sync", "table", cfg.TableName)
		}
	}
	collector := metrics.NewCollector(applier)
	register(ctrlmetrics.Registry, collector)
	if _, err := os.Stat(o.SuricataSocket); err == nil {
		register(ctrlmetrics.Registry, ids.NewCollector(o.SuricataSocket))
		log.Info("exporting suricata statistics", "socket", o.SuricataSocket)
	}
	add := ruleset.AddOptions{
		Config: cfg, Namespace: o.PolicyNamespace, MetalStackPolicies: o.MetalStackPolicies, FirewallName: o.FirewallName,
		ResyncInterval: o.ResyncInterval, AgentVersion: version.Version, Applier: applier, Collector: collector,
	}
	mgr, err := rc.NewManager(ctx, ruleset.NewScheme(), ruleset.ManagerOptions(add))
	if err != nil {
		return err
	}
	if o.LogGroup != 0 {
		if err := mgr.Add(dropLogger(o.LogGroup, nsFD, log.WithName("dropped"))); err != nil {
			return err
		}
	}
	if o.DNSProxyAddress != "" {
		proxy := &fqdn.Proxy{Listen: o.DNSProxyAddress, Upstream: o.DNSUpstream, Table: cfg.TableName, Sets: applier,
			StateFile: o.FQDNStateFile, MinTTL: o.FQDNMinTTL, MaxTTL: o.FQDNMaxTTL, MaxEntries: o.FQDNMaxEntries, Log: log.WithName("dns-proxy")}
		if err := proxy.Load(); err != nil {
			return err
		}
		add.FQDN = proxy
		if err := mgr.Add(proxy); err != nil {
			return err
		}
	}
	if err := ruleset.AddToManager(ctx, mgr, add); err != nil {
		return err
	}
	return component.Start(ctx, mgr)
}

func register(r prometheus.Registerer, c prometheus.Collector) {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
	}
}

// DryRun prints the ruleset the agent would apply, compiled from the policy
// files or, without them, from the cluster. Ignored policies are reported on
// errOut.
func DryRun(ctx context.Context, o *Options, out, errOut io.Writer) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	for _, p := range []struct {
		flag, name string
		ifaces     *[]string
	}{{FlagExternalInterfaces, PlaceholderExternal, &cfg.ExternalInterfaces}, {FlagInternalInterfaces, PlaceholderInternal, &cfg.InternalInterfaces}} {
		if len(*p.ifaces) == 0 {
			*p.ifaces = []string{p.name}
			fmt.Fprintf(errOut, "--%s not given: the ruleset names the interface %q in its place\n", p.flag, p.name)
		}
	}
	var in compile.Input
	if len(o.PolicyFiles) > 0 {
		in, err = readFiles(o.PolicyFiles)
	} else {
		in, err = readCluster(ctx, o)
	}
	if err != nil {
		return err
	}
	res := compile.Compile(cfg, in)
	component.Logger(ctx, Name).V(1).Info("Compiled ruleset", "policies", len(in.Policies), "services", len(in.Services), "table", cfg.TableName)
	names := make([]string, 0, len(res.Policies))
	for n := range res.Policies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if p := res.Policies[n]; p.Ignored {
			fmt.Fprintf(errOut, "policy %s ignored: %s\n", n, p.Message)
		}
	}
	_, err = io.WriteString(out, res.Table.Render(false))
	return err
}

func readCluster(ctx context.Context, o *Options) (compile.Input, error) {
	var in compile.Input
	rc, err := o.Runtime.REST.Complete()
	if err != nil {
		return in, err
	}
	c, err := client.New(rc, client.Options{Scheme: ruleset.NewScheme()})
	if err != nil {
		return in, err
	}
	var list v1alpha1.ClusterwideNetworkPolicyList
	if err := c.List(ctx, &list, client.InNamespace(o.PolicyNamespace)); err != nil {
		return in, fmt.Errorf("list policies: %w", err)
	}
	for _, p := range list.Items {
		in.Policies = append(in.Policies, compile.Policy{Name: p.Namespace + "/" + p.Name, Spec: p.Spec})
	}
	if o.MetalStackPolicies {
		var ms metalstackv1.ClusterwideNetworkPolicyList
		if err := c.List(ctx, &ms, client.InNamespace(o.PolicyNamespace)); err != nil {
			return in, fmt.Errorf("list metal-stack.io/v1 policies: %w", err)
		}
		for _, p := range ms.Items {
			in.Policies = append(in.Policies, compile.Policy{Name: "metal-stack.io/" + p.Namespace + "/" + p.Name, Spec: p.Spec})
		}
	}
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs); err != nil {
		return in, fmt.Errorf("list services: %w", err)
	}
	in.Services = svcs.Items
	return in, nil
}

// readFiles decodes ClusterwideNetworkPolicies (either API group) and
// Services from multi-document YAML files.
func readFiles(paths []string) (compile.Input, error) {
	var in compile.Input
	decoder := serializer.NewCodecFactory(ruleset.NewScheme()).UniversalDeserializer()
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return in, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(f))
		for {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return in, fmt.Errorf("%s: %w", path, err)
			}
			if len(trimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				f.Close()
				return in, fmt.Errorf("%s: %w", path, err)
			}
			switch o := obj.(type) {
			case *v1alpha1.ClusterwideNetworkPolicy:
				in.Policies = append(in.Policies, compile.Policy{Name: nsName(o.Namespace) + "/" + o.Name, Spec: o.Spec})
			case *metalstackv1.ClusterwideNetworkPolicy:
				in.Policies = append(in.Policies, compile.Policy{Name: "metal-stack.io/" + nsName(o.Namespace) + "/" + o.Name, Spec: o.Spec})
			case *corev1.Service:
				in.Services = append(in.Services, *o)
			default:
				f.Close()
				return in, fmt.Errorf("%s: unexpected %T (want ClusterwideNetworkPolicy or Service)", path, obj)
			}
		}
		f.Close()
	}
	return in, nil
}

func nsName(ns string) string {
	if ns == "" {
		return v1alpha1.DefaultNamespace
	}
	return ns
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
