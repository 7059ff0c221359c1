package options

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/kubeconfig"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/scheme"
)

// Backend flag names.
const (
	FlagBackend           = "backend"
	FlagMetalKubeconfig   = "metal-kubeconfig"
	FlagMetalNamespace    = "metal-namespace"
	FlagIPPools           = "ip-pool"
	FlagBackendTimeout    = "backend-timeout"
	FlagSizeLabel         = "server-size-label"
	FlagPartitionLabel    = "server-partition-label"
	FlagRegionLabel       = "server-region-label"
	BackendIronCore       = "ironcore"
	defaultBackendTimeout = 30 * time.Second

	// metalstack backend flags.
	FlagMetalAPIURL          = "metal-api-url"
	FlagMetalAPIHMACFile     = "metal-api-hmac-file"
	FlagMetalAPIHMACAuthType = "metal-api-hmac-auth-type"
	FlagMetalAPITokenFile    = "metal-api-token-file"
	FlagMetalProject         = "metal-project"
	FlagMetalPartition       = "metal-partition"
	FlagMetalNetworks        = "metal-network"
	FlagMetalDNSServers      = "metal-dns-server"
	FlagMetalNTPServers      = "metal-ntp-server"
	BackendMetalStack        = "metalstack"
)

// Environment variables the metalstack backend reads its URL and credentials
// from when no flag sets them, first the metal-ccm / provider names, then
// metalctl's.
var (
	EnvMetalAPIURL   = []string{"METAL_API_URL", "METALCTL_URL"}
	EnvMetalAPIHMAC  = []string{"METAL_AUTH_HMAC", "METALCTL_HMAC"}
	EnvMetalAPIToken = []string{"METAL_AUTH_TOKEN", "METALCTL_APITOKEN"}
)

// Backends lists the backends NewClient can build.
var Backends = []string{BackendIronCore, BackendMetalStack}

// Backend selects and configures the bare-metal backend.
type Backend struct {
	// Name is the backend: ironcore or metalstack.
	Name string
	// MetalKubeconfig is the kubeconfig of the cluster running metal-operator
	// (ironcore); empty means in-cluster or $KUBECONFIG.
	MetalKubeconfig string
	// MetalNamespace holds the backend's objects (ironcore).
	MetalNamespace string
	// IPPools maps network names to IPAM pools, "network=Kind/name" or
	// "network=group/Kind/name" (ironcore); repeat a network for a pool per
	// IP family.
	IPPools []string
	// Timeout bounds each backend call.
	Timeout time.Duration
	// Server label keys (ironcore).
	SizeLabel, PartitionLabel, RegionLabel string

	// MetalAPIURL is metal-api's URL (metalstack); empty: $METAL_API_URL or
	// $METALCTL_URL.
	MetalAPIURL string
	// MetalAPIHMACFile and MetalAPITokenFile hold the credentials
	// (metalstack); without them $METAL_AUTH_HMAC / $METALCTL_HMAC or
	// $METAL_AUTH_TOKEN / $METALCTL_APITOKEN. Secrets never go on the
	// command line, where every process can read them.
	MetalAPIHMACFile, MetalAPITokenFile string
	// MetalAPIHMACAuthType is the HMAC auth type (Metal-Admin, Metal-Edit, ...).
	MetalAPIHMACAuthType string
	// MetalProject owns what the backend allocates; MetalPartition is the
	// default partition (metalstack).
	MetalProject, MetalPartition string
	// MetalNetworks are attached to every machine besides the cluster's
	// private network; DNS and NTP servers are handed to every machine
	// (metalstack).
	MetalNetworks, MetalDNSServers, MetalNTPServers []string

	// Credentials held in memory, never bound to flags: a caller that reads
	// them from a Secret (the extension, per shoot) sets these instead of
	// the file flags. MetalKubeconfigData wins over MetalKubeconfig and is
	// held to the same allow-list; MetalAPIHMAC and MetalAPIToken win over
	// their files and the environment.
	MetalKubeconfigData         []byte
	MetalAPIHMAC, MetalAPIToken string
}

// AddFlags binds the backend flags.
func (o *Backend) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Name, FlagBackend, BackendIronCore, "bare-metal backend: "+strings.Join(Backends, "|"))
	fs.StringVar(&o.MetalKubeconfig, FlagMetalKubeconfig, o.MetalKubeconfig, "kubeconfig of the cluster running metal-operator (ironcore); empty: in-cluster or $KUBECONFIG")
	fs.StringVar(&o.MetalNamespace, FlagMetalNamespace, "default", "namespace of the ServerClaims, Secrets and IPAddressClaims (ironcore)")
	fs.StringSliceVar(&o.IPPools, FlagIPPools, o.IPPools, "IP pool of a network, network=Kind/name or network=apiGroup/Kind/name (ironcore; repeatable, one pool per IP family)")
	fs.DurationVar(&o.Timeout, FlagBackendTimeout, defaultBackendTimeout, "timeout of one backend call")
	fs.StringVar(&o.SizeLabel, FlagSizeLabel, ironcore.DefaultSizeLabel, "Server label holding the machine size (ironcore)")
	fs.StringVar(&o.PartitionLabel, FlagPartitionLabel, ironcore.DefaultPartitionLabel, "Server label holding the partition / zone (ironcore)")
	fs.StringVar(&o.RegionLabel, FlagRegionLabel, ironcore.DefaultRegionLabel, "Server label holding the region (ironcore)")
	fs.StringVar(&o.MetalAPIURL, FlagMetalAPIURL, o.MetalAPIURL, "metal-api URL (metalstack); default $"+strings.Join(EnvMetalAPIURL, " or $"))
	fs.StringVar(&o.MetalAPIHMACFile, FlagMetalAPIHMACFile, o.MetalAPIHMACFile, "file holding the metal-api HMAC key (metalstack); default $"+strings.Join(EnvMetalAPIHMAC, " or $"))
	fs.StringVar(&o.MetalAPIHMACAuthType, FlagMetalAPIHMACAuthType, metalstack.DefaultHMACAuthType, "metal-api HMAC auth type (metalstack)")
	fs.StringVar(&o.MetalAPITokenFile, FlagMetalAPITokenFile, o.MetalAPITokenFile, "file holding a metal-api bearer token (metalstack); default $"+strings.Join(EnvMetalAPIToken, " or $"))
	fs.StringVar(&o.MetalProject, FlagMetalProject, o.MetalProject, "metal-api project owning machines, IPs and networks (metalstack)")
	fs.StringVar(&o.MetalPartition, FlagMetalPartition, o.MetalPartition, "default metal-api partition of machines and networks (metalstack)")
	fs.StringSliceVar(&o.MetalNetworks, FlagMetalNetworks, o.MetalNetworks, "metal-api network attached to every machine besides the cluster's private network (metalstack; repeatable)")
	fs.StringSliceVar(&o.MetalDNSServers, FlagMetalDNSServers, o.MetalDNSServers, "DNS server handed to machines (metalstack; repeatable)")
	fs.StringSliceVar(&o.MetalNTPServers, FlagMetalNTPServers, o.MetalNTPServers, "NTP server handed to machines (metalstack; repeatable)")
}

// Validate checks the flags; every error names the flag and the value.
func (o *Backend) Validate() error {
	var errs []error
	if !slices.Contains(Backends, o.Name) {
		errs = append(errs, fmt.Errorf("--%s=%q: want one of %s", FlagBackend, o.Name, strings.Join(Backends, ", ")))
	}
	if o.Name == BackendIronCore && o.MetalNamespace == "" {
		errs = append(errs, fmt.Errorf("--%s is empty", FlagMetalNamespace))
	}
	if o.Name == BackendMetalStack {
		if o.metalAPIURL() == "" {
			errs = append(errs, fmt.Errorf("--%s is empty and $%s unset", FlagMetalAPIURL, strings.Join(EnvMetalAPIURL, ", $")))
		}
		if o.MetalProject == "" {
			errs = append(errs, fmt.Errorf("--%s is empty", FlagMetalProject))
		}
		if (o.MetalAPIHMACFile != "" || o.MetalAPIHMAC != "") && (o.MetalAPITokenFile != "" || o.MetalAPIToken != "") {
			errs = append(errs, fmt.Errorf("--%s and --%s both set: choose one", FlagMetalAPIHMACFile, FlagMetalAPITokenFile))
		}
	}
	if _, err := o.pools(); err != nil {
		errs = append(errs, err)
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--%s=%s: must be positive", FlagBackendTimeout, o.Timeout))
	}
	return errors.Join(errs...)
}

func (o *Backend) pools() (map[string][]ironcore.PoolRef, error) {
	out := map[string][]ironcore.PoolRef{}
	for _, p := range o.IPPools {
		network, ref, ok := strings.Cut(p, "=")
		parts := strings.Split(ref, "/")
		if !ok || network == "" || len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
			return nil, fmt.Errorf("--%s=%q: want network=Kind/name or network=apiGroup/Kind/name", FlagIPPools, p)
		}
		pr := ironcore.PoolRef{APIGroup: "ipam.cluster.x-k8s.io", Kind: parts[len(parts)-2], Name: parts[len(parts)-1]}
		if len(parts) == 3 {
			pr.APIGroup = parts[0]
		}
		out[network] = append(out[network], pr)
	}
	return out, nil
}

// NewClient builds the backend client and checks that the backend answers, so
// that a wrong address or credentials fail at start with a clear error.
func (o *Backend) NewClient(ctx context.Context) (metal.Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Name == BackendMetalStack {
		return o.newMetalStack(ctx)
	}
	// A kubeconfig given as a file or as data may come from a tenant (the
	// shoot's cloudprovider Secret): it is held to the allow-list. Without one, the
	// component's own environment (in-cluster, $KUBECONFIG) is used.
	var cfg *rest.Config
	var err error
	switch {
	case len(o.MetalKubeconfigData) > 0:
		if cfg, err = kubeconfig.RESTConfig(o.MetalKubeconfigData); err != nil {
			return nil, fmt.Errorf("backend %s: kubeconfig: %w", o.Name, err)
		}
	case o.MetalKubeconfig != "":
		cfg, err = kubeconfig.RESTConfigFromFile(o.MetalKubeconfig)
	default:
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("--%s=%q: %w", FlagMetalKubeconfig, o.MetalKubeconfig, err)
	}
	cfg.Timeout = o.Timeout
	// A client that can watch: AllocateIP waits for the IPAM provider on one
	// shared watch of the claims instead of polling each.
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("backend %s at %s: %w", o.Name, cfg.Host, err)
	}
	pools, _ := o.pools()
	b, err := ironcore.New(ironcore.Config{Client: c, Namespace: o.MetalNamespace, Pools: pools,
		SizeLabel: o.SizeLabel, PartitionLabel: o.PartitionLabel, RegionLabel: o.RegionLabel})
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := b.Healthy(hctx); err != nil {
		return nil, fmt.Errorf("backend %s at %s: %w", o.Name, cfg.Host, err)
	}
	return b, nil
}

func firstEnv(names []string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func (o *Backend) metalAPIURL() string {
	if o.MetalAPIURL != "" {
		return o.MetalAPIURL
	}
	return firstEnv(EnvMetalAPIURL)
}

// metalAPICredentials reads the HMAC key or token from the flag's file or the
// environment; files win over the environment.
func (o *Backend) metalAPICredentials() (hmac, token string, err error) {
	read := func(flag, path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("--%s=%q: %w", flag, path, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("--%s=%q: file is empty", flag, path)
		}
		return v, nil
	}
	switch {
	case o.MetalAPIHMAC != "" || o.MetalAPIToken != "":
		hmac, token = o.MetalAPIHMAC, o.MetalAPIToken
	case o.MetalAPIHMACFile != "":
		hmac, err = read(FlagMetalAPIHMACFile, o.MetalAPIHMACFile)
	case o.MetalAPITokenFile != "":
		token, err = read(FlagMetalAPITokenFile, o.MetalAPITokenFile)
	default:
		hmac, token = firstEnv(EnvMetalAPIHMAC), firstEnv(EnvMetalAPIToken)
		if hmac == "" && token == "" {
			err = fmt.Errorf("no metal-api credentials: set --%s or --%s, or $%s or $%s", FlagMetalAPIHMACFile, FlagMetalAPITokenFile,
				strings.Join(EnvMetalAPIHMAC, ", $"), strings.Join(EnvMetalAPIToken, ", $"))
		}
	}
	return hmac, token, err
}

// newMetalStack builds the metalstack backend and checks metal-api answers,
// fits this client and accepts the credentials.
func (o *Backend) newMetalStack(ctx context.Context) (metal.Client, error) {
	url := o.metalAPIURL()
	hmac, token, err := o.metalAPICredentials()
	if err != nil {
		return nil, fmt.Errorf("backend %s at %s: %w", o.Name, url, err)
	}
	b, err := metalstack.New(metalstack.Config{URL: url, HMAC: hmac, HMACAuthType: o.MetalAPIHMACAuthType, Token: token,
		Project: o.MetalProject, Partition: o.MetalPartition, Networks: o.MetalNetworks,
		DNSServers: o.MetalDNSServers, NTPServers: o.MetalNTPServers})
	if err != nil {
		return nil, fmt.Errorf("backend %s at %s: %w", o.Name, url, err)
	}
	hctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := b.Healthy(hctx); err != nil {
		return nil, fmt.Errorf("backend %s at %s: %w", o.Name, url, err)
	}
	return b, nil
}
