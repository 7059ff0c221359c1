package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Decode reads a providerConfig (JSON, as stored in spec.providerConfig.raw),
// rejecting unknown fields, and validates it. An empty input yields an empty
// configuration.
func Decode(raw []byte) (*OperatingSystemConfiguration, error) {
	cfg := &OperatingSystemConfiguration{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return cfg, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("decode providerConfig: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("decode providerConfig: trailing data after the object")
	}
	if errs := Validate(cfg, field.NewPath("spec", "providerConfig")); len(errs) > 0 {
		return nil, fmt.Errorf("invalid providerConfig: %w", errs.ToAggregate())
	}
	return cfg, nil
}

// Validate checks a providerConfig; errors carry field paths below fldPath.
func Validate(cfg *OperatingSystemConfiguration, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if cfg.APIVersion != APIVersion {
		errs = append(errs, field.NotSupported(fldPath.Child("apiVersion"), cfg.APIVersion, []string{APIVersion}))
	}
	if cfg.Kind != Kind {
		errs = append(errs, field.NotSupported(fldPath.Child("kind"), cfg.Kind, []string{Kind}))
	}
	if cfg.Format != "" && !slices.Contains(Formats(), cfg.Format) {
		errs = append(errs, field.NotSupported(fldPath.Child("format"), cfg.Format, Formats()))
	}
	for i, s := range cfg.DNSServers {
		if _, err := netip.ParseAddr(s); err != nil {
			errs = append(errs, field.Invalid(fldPath.Child("dnsServers").Index(i), s, "must be an IP address"))
		}
	}
	for i, s := range cfg.NTPServers {
		if _, err := netip.ParseAddr(s); err == nil {
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(s); len(msgs) > 0 {
			errs = append(errs, field.Invalid(fldPath.Child("ntpServers").Index(i), s, "must be an IP address or a DNS name"))
		}
	}
	seen := map[string]bool{}
	for i, m := range cfg.RegistryMirrors {
		p := fldPath.Child("registryMirrors").Index(i)
		errs = append(errs, validateUpstream(m.Upstream, p.Child("upstream"))...)
		if seen[m.Upstream] {
			errs = append(errs, field.Duplicate(p.Child("upstream"), m.Upstream))
		}
		seen[m.Upstream] = true
		if m.Server != "" {
			errs = append(errs, validateURL(m.Server, p.Child("server"))...)
		}
		if len(m.Mirrors) == 0 {
			errs = append(errs, field.Required(p.Child("mirrors"), "a registry mirror needs at least one mirror"))
		}
		for j, h := range m.Mirrors {
			hp := p.Child("mirrors").Index(j)
			errs = append(errs, validateURL(h.URL, hp.Child("url"))...)
			for k, c := range h.Capabilities {
				if !slices.Contains([]string{"pull", "resolve", "push"}, c) {
					errs = append(errs, field.NotSupported(hp.Child("capabilities").Index(k), c, []string{"pull", "resolve", "push"}))
				}
			}
			for k, c := range h.CACerts {
				if !path.IsAbs(c) {
					errs = append(errs, field.Invalid(hp.Child("caCerts").Index(k), c, "must be an absolute path on the node"))
				}
			}
		}
	}
	return errs
}

func validateUpstream(s string, p *field.Path) field.ErrorList {
	if s == "" {
		return field.ErrorList{field.Required(p, "the registry host")}
	}
	host := s
	if h, port, ok := strings.Cut(s, ":"); ok {
		host = h
		if len(validation.IsValidPortNum(atoi(port))) > 0 {
			return field.ErrorList{field.Invalid(p, s, "port must be a number between 1 and 65535")}
		}
	}
	if len(validation.IsDNS1123Subdomain(host)) > 0 {
		if _, err := netip.ParseAddr(host); err != nil {
			return field.ErrorList{field.Invalid(p, s, "must be a registry host[:port], without scheme or path")}
		}
	}
	return nil
}

func validateURL(s string, p *field.Path) field.ErrorList {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return field.ErrorList{field.Invalid(p, s, "must be an http or https URL")}
	}
	return nil
}

func atoi(s string) int {
	n := 0
	if s == "" || len(s) > 5 {
		return -1
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return -1
		}
		n = n*10 + int(r-'0')
	}
	return n
}
