package validation

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
)

// Limits checked by validation.
const (
	MinPrefixLength  = 16
	MaxPrefixLength  = 29
	MaxEgressIPs     = 64
	MaxMetadataValue = 256
)

var architectures = []string{"amd64", "arm64"}

// name checks a backend name (partition, network, size): a DNS-1123
// subdomain-like token, as both backends use them in object names.
func name(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v == "" {
		return append(errs, field.Required(p, ""))
	}
	for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(v)) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func nameList(vs []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, v := range vs {
		errs = append(errs, name(v, p.Index(i))...)
		if seen.Has(v) {
			errs = append(errs, field.Duplicate(p.Index(i), v))
		}
		seen.Insert(v)
	}
	return errs
}

// CloudProfileConfig validates cfg against the CloudProfile spec it belongs
// to: every machine image version of the profile needs a backend image, and
// mapped machine types and regions must exist in the profile.
func CloudProfileConfig(cfg *v1alpha1.CloudProfileConfig, spec *gardencorev1beta1.CloudProfileSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	imgs := p.Child("machineImages")
	known := map[string]map[string]bool{} // name -> version -> present
	for i, mi := range cfg.MachineImages {
		ip := imgs.Index(i)
		if mi.Name == "" {
			errs = append(errs, field.Required(ip.Child("name"), ""))
		}
		if _, dup := known[mi.Name]; dup && mi.Name != "" {
			errs = append(errs, field.Duplicate(ip.Child("name"), mi.Name))
		}
		if len(mi.Versions) == 0 {
			errs = append(errs, field.Required(ip.Child("versions"), "at least one version"))
		}
		vs := map[string]bool{}
		for j, v := range mi.Versions {
			vp := ip.Child("versions").Index(j)
			if v.Version == "" {
				errs = append(errs, field.Required(vp.Child("version"), ""))
			}
			if v.Image == "" {
				errs = append(errs, field.Required(vp.Child("image"), ""))
			}
			arch := v1alpha1.DefaultArchitecture
			if v.Architecture != nil {
				arch = *v.Architecture
			}
			if !slices.Contains(architectures, arch) {
				errs = append(errs, field.NotSupported(vp.Child("architecture"), arch, architectures))
			}
			key := v.Version + "/" + arch
			if vs[key] {
				errs = append(errs, field.Duplicate(vp.Child("version"), v.Version))
			}
			vs[key] = true
			vs[v.Version] = true
		}
		known[mi.Name] = vs
	}
	types := p.Child("machineTypes")
	seen := sets.New[string]()
	for i, mt := range cfg.MachineTypes {
		tp := types.Index(i)
		if mt.Name == "" {
			errs = append(errs, field.Required(tp.Child("name"), ""))
		} else if seen.Has(mt.Name) {
			errs = append(errs, field.Duplicate(tp.Child("name"), mt.Name))
		}
		seen.Insert(mt.Name)
		if mt.Size != "" {
			errs = append(errs, name(mt.Size, tp.Child("size"))...)
		}
		errs = append(errs, metav1validation.ValidateLabels(mt.ServerLabels, tp.Child("serverLabels"))...)
		if spec != nil && mt.Name != "" && !slices.ContainsFunc(spec.MachineTypes, func(t gardencorev1beta1.MachineType) bool { return t.Name == mt.Name }) {
			errs = append(errs, field.Invalid(tp.Child("name"), mt.Name, "not a machine type of the CloudProfile"))
		}
	}
	regions := p.Child("regions")
	seen = sets.New[string]()
	for i, r := range cfg.Regions {
		rp := regions.Index(i)
		if r.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		} else if seen.Has(r.Name) {
			errs = append(errs, field.Duplicate(rp.Child("name"), r.Name))
		}
		seen.Insert(r.Name)
		if r.Namespace != "" {
			for _, msg := range validation.IsDNS1123Label(r.Namespace) {
				errs = append(errs, field.Invalid(rp.Child("namespace"), r.Namespace, msg))
			}
		}
		if r.Endpoint != "" {
			// Nothing would use it: the components reach the backend the
			// shoot's cloudprovider Secret names.
			errs = append(errs, field.Forbidden(rp.Child("endpoint"), fmt.Sprintf("%q: not supported; the backend's address is the cloudprovider Secret's kubeconfig (ironcore) or metalAPIURL (metal-stack)", r.Endpoint)))
		}
		pools := sets.New[string]()
		for j, pool := range r.IPPools {
			pp := rp.Child("ipPools").Index(j)
			errs = append(errs, name(pool.Network, pp.Child("network"))...)
			for _, f := range []struct{ name, v string }{{"kind", pool.Kind}, {"name", pool.Name}} {
				if f.v == "" {
					errs = append(errs, field.Required(pp.Child(f.name), ""))
				} else if strings.ContainsAny(f.v, "=/,") {
					errs = append(errs, field.Invalid(pp.Child(f.name), f.v, "must not contain '=', '/' or ','"))
				}
			}
			if strings.ContainsAny(pool.APIGroup, "=/,") {
				errs = append(errs, field.Invalid(pp.Child("apiGroup"), pool.APIGroup, "must not contain '=', '/' or ','"))
			}
			key := pool.Network + "=" + pool.APIGroup + "/" + pool.Kind + "/" + pool.Name
			if pools.Has(key) {
				errs = append(errs, field.Duplicate(pp, key))
			}
			pools.Insert(key)
		}
		zones := sets.New[string]()
		for j, z := range r.Zones {
			zp := rp.Child("zones").Index(j)
			if z.Name == "" {
				errs = append(errs, field.Required(zp.Child("name"), ""))
			} else if zones.Has(z.Name) {
				errs = append(errs, field.Duplicate(zp.Child("name"), z.Name))
			}
			zones.Insert(z.Name)
			if z.Partition != "" {
				errs = append(errs, name(z.Partition, zp.Child("partition"))...)
			}
		}
	}
	if spec == nil {
		return errs
	}
	// Every image version of the profile must boot something.
	for i, mi := range spec.MachineImages {
		for j, v := range mi.Versions {
			if !known[mi.Name][v.Version] {
				errs = append(errs, field.Required(imgs, fmt.Sprintf("no backend image for machine image %s version %s (spec.machineImages[%d].versions[%d])", mi.Name, v.Version, i, j)))
			}
		}
	}
	return errs
}

// InfrastructureConfig validates an InfrastructureConfig.
func InfrastructureConfig(cfg *v1alpha1.InfrastructureConfig, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if cfg.Partition != "" {
		errs = append(errs, name(cfg.Partition, p.Child("partition"))...)
	}
	if cfg.Project != "" {
		errs = append(errs, name(cfg.Project, p.Child("project"))...)
	}
	if n := cfg.Networks; n != nil {
		np := p.Child("networks")
		if n.Node != "" {
			errs = append(errs, name(n.Node, np.Child("node"))...)
			if n.PrefixLength != nil {
				errs = append(errs, field.Forbidden(np.Child("prefixLength"), "only for an allocated node network, not with networks.node"))
			}
		}
		if n.PrefixLength != nil && (*n.PrefixLength < MinPrefixLength || *n.PrefixLength > MaxPrefixLength) {
			errs = append(errs, field.Invalid(np.Child("prefixLength"), *n.PrefixLength, fmt.Sprintf("must be between %d and %d", MinPrefixLength, MaxPrefixLength)))
		}
		errs = append(errs, nameList(n.External, np.Child("external"))...)
	}
	ep := p.Child("egressIPs")
	seen := sets.New[string]()
	for i, e := range cfg.EgressIPs {
		errs = append(errs, name(e.Network, ep.Index(i).Child("network"))...)
		if seen.Has(e.Network) {
			errs = append(errs, field.Duplicate(ep.Index(i).Child("network"), e.Network))
		}
		seen.Insert(e.Network)
		if e.Count != nil && (*e.Count < 1 || *e.Count > MaxEgressIPs) {
			errs = append(errs, field.Invalid(ep.Index(i).Child("count"), *e.Count, fmt.Sprintf("must be between 1 and %d", MaxEgressIPs)))
		}
	}
	if fw := cfg.Firewall; fw != nil {
		errs = append(errs, firewall(fw, cfg.Project, p.Child("firewall"))...)
	}
	return errs
}

// firewall validates InfrastructureConfig.firewall; project is the
// config's project, which only metal-stack shoots have.
func firewall(fw *v1alpha1.Firewall, project string, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !fw.Enabled {
		if fw.Size != "" || fw.Image != "" || len(fw.Networks) > 0 || len(fw.RateLimits) > 0 || len(fw.EgressRules) > 0 || fw.LogAcceptedConnections {
			errs = append(errs, field.Forbidden(fp, "settings of a disabled firewall; set enabled: true"))
		}
	} else {
		if project == "" {
			// Only metal-stack has firewall machines; a shoot without a
			// project is an ironcore one (its components refuse a project).
			errs = append(errs, field.Forbidden(fp.Child("enabled"), "firewall machines exist only on metal-stack (shoots with infrastructureConfig.project); ironcore has no firewall machines, so nothing would filter this cluster's traffic"))
		}
		if fw.Size == "" {
			errs = append(errs, field.Required(fp.Child("size"), "the backend size of the firewall machine"))
		}
		if fw.Image == "" {
			errs = append(errs, field.Required(fp.Child("image"), "the firewall image (a metal-api image with the firewall feature)"))
		}
	}
	if fw.Size != "" {
		errs = append(errs, name(fw.Size, fp.Child("size"))...)
	}
	errs = append(errs, nameList(fw.Networks, fp.Child("networks"))...)
	for i, rl := range fw.RateLimits {
		rp := fp.Child("rateLimits").Index(i)
		errs = append(errs, name(rl.Network, rp.Child("network"))...)
		if rl.RateMbit <= 0 {
			errs = append(errs, field.Invalid(rp.Child("rateMbit"), rl.RateMbit, "must be positive"))
		}
	}
	seen := sets.New[string]()
	for i, r := range fw.EgressRules {
		rp := fp.Child("egressRules").Index(i)
		if !slices.Contains(fw.Networks, r.Network) {
			errs = append(errs, field.NotSupported(rp.Child("network"), r.Network, fw.Networks))
		}
		if seen.Has(r.Network) {
			errs = append(errs, field.Duplicate(rp.Child("network"), r.Network))
		}
		seen.Insert(r.Network)
		if len(r.IPs) == 0 {
			errs = append(errs, field.Required(rp.Child("ips"), "the source addresses of the network's egress traffic"))
		}
		for j, ip := range r.IPs {
			if _, err := netip.ParseAddr(ip); err != nil {
				errs = append(errs, field.Invalid(rp.Child("ips").Index(j), ip, "not an IP address"))
			}
		}
	}
	if fw.LogAcceptedConnections {
		errs = append(errs, field.Invalid(fp.Child("logAcceptedConnections"), true, "not supported: the firewall agent logs dropped connections only (to its nflog group)"))
	}
	return errs
}

// InfrastructureConfigUpdate validates a change: the partition and the node
// network cannot change under a running cluster.
func InfrastructureConfigUpdate(old, cfg *v1alpha1.InfrastructureConfig, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if old.Partition != cfg.Partition {
		errs = append(errs, field.Invalid(p.Child("partition"), cfg.Partition, "field is immutable"))
	}
	var oldNode, newNode string
	if old.Networks != nil {
		oldNode = old.Networks.Node
	}
	if cfg.Networks != nil {
		newNode = cfg.Networks.Node
	}
	if oldNode != newNode {
		errs = append(errs, field.Invalid(p.Child("networks", "node"), newNode, "field is immutable"))
	}
	return errs
}

// ControlPlaneConfig validates a ControlPlaneConfig.
func ControlPlaneConfig(cfg *v1alpha1.ControlPlaneConfig, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ccm := cfg.CloudControllerManager; ccm != nil {
		for gate := range ccm.FeatureGates {
			if gate == "" || strings.ContainsAny(gate, " =,") {
				errs = append(errs, field.Invalid(p.Child("cloudControllerManager", "featureGates").Key(gate), gate, "not a feature gate name"))
			}
		}
	}
	if lb := cfg.LoadBalancer; lb != nil {
		lp := p.Child("loadBalancer")
		modes := []string{v1alpha1.LoadBalancerMetalLB, v1alpha1.LoadBalancerCilium}
		if lb.Mode != "" && !slices.Contains(modes, lb.Mode) {
			errs = append(errs, field.NotSupported(lp.Child("mode"), lb.Mode, modes))
		}
		if lb.DefaultExternalNetwork != "" {
			errs = append(errs, name(lb.DefaultExternalNetwork, lp.Child("defaultExternalNetwork"))...)
		}
		errs = append(errs, nameList(lb.AdditionalNetworks, lp.Child("additionalNetworks"))...)
		if lb.DefaultExternalNetwork != "" && slices.Contains(lb.AdditionalNetworks, lb.DefaultExternalNetwork) {
			errs = append(errs, field.Duplicate(lp.Child("additionalNetworks"), lb.DefaultExternalNetwork))
		}
	}
	return errs
}

// WorkerConfig validates a worker pool's WorkerConfig.
func WorkerConfig(cfg *v1alpha1.WorkerConfig, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, metav1validation.ValidateLabels(cfg.ServerLabels, p.Child("serverLabels"))...)
	for k, v := range cfg.Metadata {
		if k == "" {
			errs = append(errs, field.Invalid(p.Child("metadata").Key(k), k, "empty key"))
		}
		if len(v) > MaxMetadataValue {
			errs = append(errs, field.TooLong(p.Child("metadata").Key(k), "", MaxMetadataValue))
		}
	}
	if ig := cfg.ExtraIgnition; ig != nil {
		errs = append(errs, ignition(ig.Raw, p.Child("extraIgnition", "raw"))...)
	}
	return errs
}

// ignition checks that raw is an Ignition 3.x config: JSON with
// ignition.version 3.x. The full schema is checked by the renderer
// (components/os), which parses it with Ignition's own parser.
func ignition(raw string, p *field.Path) field.ErrorList {
	var doc struct {
		Ignition struct {
			Version string `json:"version"`
		} `json:"ignition"`
	}
	if raw == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return field.ErrorList{field.Invalid(p, abbreviate(raw), "not JSON: "+err.Error())}
	}
	if !strings.HasPrefix(doc.Ignition.Version, "3.") {
		return field.ErrorList{field.Invalid(p.Child("ignition", "version"), doc.Ignition.Version, "want an Ignition 3.x config")}
	}
	return nil
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// CIDR checks a CIDR field (used by the Shoot validator for networking).
func CIDR(v string, p *field.Path) field.ErrorList {
	if _, err := netip.ParsePrefix(v); err != nil {
		return field.ErrorList{field.Invalid(p, v, err.Error())}
	}
	return nil
}
