package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
)

// Root is the field path of the provider spec in a MachineClass.
var Root = field.NewPath("providerSpec")

// Decode parses raw strictly: unknown fields, duplicate keys, keys that differ
// from a field only in case, and data after the object are errors, named by
// their path. (encoding/json accepts the last three.)
func Decode(raw []byte) (*ProviderSpec, field.ErrorList) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, field.ErrorList{field.Required(Root, "the MachineClass has no providerSpec")}
	}
	spec := &ProviderSpec{}
	strict, err := kjson.UnmarshalStrict(raw, spec)
	if err != nil {
		return nil, field.ErrorList{decodeError(err)}
	}
	var errs field.ErrorList
	for _, e := range strict {
		var fe kjson.FieldError
		if !errors.As(e, &fe) {
			errs = append(errs, field.Invalid(Root, "<raw>", e.Error()))
			continue
		}
		p := Root.Child(fe.FieldPath())
		if strings.HasPrefix(e.Error(), "duplicate field") {
			errs = append(errs, field.Duplicate(p, fe.FieldPath()))
		} else {
			errs = append(errs, field.NotSupported(p, nil, knownFields))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return spec, nil
}

// decodeError turns a JSON error into a field error with the best path known.
func decodeError(err error) *field.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return field.Invalid(Root.Child(te.Field), te.Value, fmt.Sprintf("want %s", te.Type))
	}
	return field.Invalid(Root, "<raw>", err.Error())
}

var knownFields = []string{"apiVersion", "kind", "image", "size", "partition", "serverLabels", "networks", "ipAddresses", "sshKeys", "tags", "cluster"}

// Default fills in the fields that may be left out. classNamespace is the
// MachineClass's namespace, the default cluster.
func Default(spec *ProviderSpec, classNamespace string) {
	if spec.APIVersion == "" {
		spec.APIVersion = GroupVersion.String()
	}
	if spec.Kind == "" {
		spec.Kind = Kind
	}
	if spec.Cluster == "" {
		spec.Cluster = classNamespace
	}
}

// Validate checks a defaulted spec; every error names its field.
func Validate(spec *ProviderSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.APIVersion != GroupVersion.String() {
		errs = append(errs, field.NotSupported(Root.Child("apiVersion"), spec.APIVersion, []string{GroupVersion.String()}))
	}
	if spec.Kind != Kind {
		errs = append(errs, field.NotSupported(Root.Child("kind"), spec.Kind, []string{Kind}))
	}
	if strings.TrimSpace(spec.Image) == "" {
		errs = append(errs, field.Required(Root.Child("image"), "the OS image to boot"))
	}
	errs = append(errs, labelValue(Root.Child("size"), spec.Size)...)
	errs = append(errs, labelValue(Root.Child("partition"), spec.Partition)...)
	errs = append(errs, metav1validation.ValidateLabels(spec.ServerLabels, Root.Child("serverLabels"))...)

	seen := sets.New[string]()
	for i, n := range spec.Networks {
		p := Root.Child("networks").Index(i)
		switch {
		case n == "":
			errs = append(errs, field.Required(p, "network name"))
		case seen.Has(n):
			errs = append(errs, field.Duplicate(p, n))
		default:
			errs = append(errs, dnsLabel(p, n)...)
		}
		seen.Insert(n)
	}
	seenIP := sets.New[string]()
	for i, ip := range spec.IPAddresses {
		p := Root.Child("ipAddresses").Index(i).Child("network")
		switch {
		case ip.Network == "":
			errs = append(errs, field.Required(p, "network to allocate the address from"))
		case seenIP.Has(ip.Network):
			errs = append(errs, field.Duplicate(p, ip.Network))
		default:
			errs = append(errs, dnsLabel(p, ip.Network)...)
		}
		seenIP.Insert(ip.Network)
	}
	for i, k := range spec.SSHKeys {
		if err := sshKey(k); err != "" {
			errs = append(errs, field.Invalid(Root.Child("sshKeys").Index(i), truncate(k), err))
		}
	}
	for k := range spec.Tags {
		p := Root.Child("tags").Key(k)
		switch {
		case k == "":
			errs = append(errs, field.Invalid(p, k, "tag keys must not be empty"))
		case strings.HasPrefix(k, TagPrefix):
			errs = append(errs, field.Invalid(p, k, "the prefix "+TagPrefix+" is reserved for the driver"))
		}
	}
	if spec.Cluster == "" {
		errs = append(errs, field.Required(Root.Child("cluster"), "no cluster and no MachineClass namespace to default it from"))
	} else {
		errs = append(errs, labelValue(Root.Child("cluster"), spec.Cluster)...)
	}
	return errs
}

// Parse decodes, defaults and validates raw.
func Parse(raw []byte, classNamespace string) (*ProviderSpec, field.ErrorList) {
	spec, errs := Decode(raw)
	if len(errs) > 0 {
		return nil, errs
	}
	Default(spec, classNamespace)
	if errs := Validate(spec); len(errs) > 0 {
		return nil, errs
	}
	return spec, nil
}

func labelValue(p *field.Path, v string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsValidLabelValue(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func dnsLabel(p *field.Path, v string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.NameIsDNSLabel(v, false) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

var sshKeyTypes = []string{"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"}

// sshKey checks that k looks like an authorized_keys line: a known key type
// and a base64 blob.
func sshKey(k string) string {
	f := strings.Fields(k)
	if len(f) < 2 {
		return "want an authorized_keys line: <type> <base64 key> [comment]"
	}
	if !sets.New(sshKeyTypes...).Has(f[0]) {
		return fmt.Sprintf("unknown key type %q, want one of %s", f[0], strings.Join(sshKeyTypes, ", "))
	}
	if !isBase64(f[1]) {
		return "the key is not base64"
	}
	return ""
}

func isBase64(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=') {
			return false
		}
	}
	return len(s)%4 == 0 && s != ""
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
