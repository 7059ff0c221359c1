package webhooks

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
)

// DefaultCluster sets the endpoint port when a host is given.
func DefaultCluster(spec *infrav1.MetalClusterSpec) {
	if spec.ControlPlaneEndpoint.Host != "" && spec.ControlPlaneEndpoint.Port == 0 {
		spec.ControlPlaneEndpoint.Port = infrav1.DefaultAPIServerPort
	}
}

// ValidateClusterSpec checks a MetalCluster spec.
func ValidateClusterSpec(spec *infrav1.MetalClusterSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	ep := spec.ControlPlaneEndpoint
	if h := ep.Host; h != "" {
		if _, err := netip.ParseAddr(h); err != nil && len(validation.IsDNS1123Subdomain(h)) > 0 {
			errs = append(errs, field.Invalid(p.Child("controlPlaneEndpoint", "host"), h, "must be an IP address or a DNS name"))
		}
	} else if spec.ControlPlaneNetwork == "" {
		errs = append(errs, field.Required(p.Child("controlPlaneNetwork"), "needed to allocate the control-plane endpoint when spec.controlPlaneEndpoint.host is empty"))
	}
	if ep.Port < 0 || ep.Port > 65535 {
		errs = append(errs, field.Invalid(p.Child("controlPlaneEndpoint", "port"), ep.Port, "must be between 1 and 65535"))
	}
	seen := map[string]bool{}
	for i, fd := range spec.FailureDomains {
		switch {
		case fd == "":
			errs = append(errs, field.Invalid(p.Child("failureDomains").Index(i), fd, "must not be empty"))
		case seen[fd]:
			errs = append(errs, field.Duplicate(p.Child("failureDomains").Index(i), fd))
		}
		seen[fd] = true
	}
	return errs
}

// ValidateClusterUpdate checks a MetalCluster spec change: a set endpoint
// host stays (the cluster's certificates and kubeconfigs name it).
func ValidateClusterUpdate(old, spec *infrav1.MetalClusterSpec, p *field.Path) field.ErrorList {
	errs := ValidateClusterSpec(spec, p)
	if o := old.ControlPlaneEndpoint; o.Host != "" && o != spec.ControlPlaneEndpoint {
		errs = append(errs, field.Invalid(p.Child("controlPlaneEndpoint"), fmt.Sprintf("%s:%d", spec.ControlPlaneEndpoint.Host, spec.ControlPlaneEndpoint.Port),
			fmt.Sprintf("is immutable once set (was %s:%d)", o.Host, o.Port)))
	}
	return errs
}

// ValidateMachineSpec checks a MetalMachine spec.
func ValidateMachineSpec(spec *infrav1.MetalMachineSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), "the OS image to boot"))
	}
	if sel := spec.ServerSelector; sel != nil {
		sp := p.Child("serverSelector")
		if len(sel.MatchExpressions) > 0 {
			errs = append(errs, field.Forbidden(sp.Child("matchExpressions"),
				fmt.Sprintf("not supported (%d given): the bare-metal backends select servers by exact label values; use matchLabels", len(sel.MatchExpressions))))
		}
		errs = append(errs, metav1validation.ValidateLabels(sel.MatchLabels, sp.Child("matchLabels"))...)
	}
	seen := map[string]bool{}
	for i, n := range spec.Networks {
		if n == "" {
			errs = append(errs, field.Invalid(p.Child("networks").Index(i), n, "must not be empty"))
		} else if seen[n] {
			errs = append(errs, field.Duplicate(p.Child("networks").Index(i), n))
		}
		seen[n] = true
	}
	return errs
}

// ValidateMachineUpdate checks a MetalMachine spec change: what chose and
// booted the server is immutable (Cluster API replaces a machine instead of
// changing it); the provider ID may be set once.
func ValidateMachineUpdate(old, spec *infrav1.MetalMachineSpec, p *field.Path) field.ErrorList {
	errs := ValidateMachineSpec(spec, p)
	if old.ProviderID != "" && spec.ProviderID != old.ProviderID {
		errs = append(errs, field.Invalid(p.Child("providerID"), spec.ProviderID, fmt.Sprintf("is immutable once set (was %q)", old.ProviderID)))
	}
	o, n := *old, *spec
	o.ProviderID, n.ProviderID = "", ""
	for _, f := range []struct {
		name     string
		old, new any
	}{
		{"image", o.Image, n.Image}, {"serverSelector", o.ServerSelector, n.ServerSelector}, {"size", o.Size, n.Size},
		{"partition", o.Partition, n.Partition}, {"networks", o.Networks, n.Networks}, {"sshKeys", o.SSHKeys, n.SSHKeys},
	} {
		if !equality.Semantic.DeepEqual(f.old, f.new) {
			errs = append(errs, field.Invalid(p.Child(f.name), f.new, fmt.Sprintf("is immutable (was %v): Cluster API replaces machines instead of changing them", f.old)))
		}
	}
	return errs
}

// ValidateTemplateUpdate rejects any change of a template's spec.
func ValidateTemplateUpdate(old, spec any, p *field.Path) field.ErrorList {
	if equality.Semantic.DeepEqual(old, spec) {
		return nil
	}
	return field.ErrorList{field.Forbidden(p, "templates are immutable: create a new template and point the owner at it")}
}
