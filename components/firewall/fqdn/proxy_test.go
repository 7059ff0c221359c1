package fqdn

import (
	"regexp"
	"testing"

	"github.com/metalkube/metalkube/components/firewall/api/v1alpha1"
)

func TestSelectors(t *testing.T) {
	tests := []struct {
		sel   v1alpha1.FQDNSelector
		name  string
		match bool
	}{
		{v1alpha1.FQDNSelector{MatchName: "Registry.Example.com"}, "registry.example.com.", true},
		{v1alpha1.FQDNSelector{MatchName: "registry.example.com."}, "registry.example.com.", true},
		{v1alpha1.FQDNSelector{MatchName: "registry.example.com"}, "xregistry.example.com.", false},
		{v1alpha1.FQDNSelector{MatchName: "registry.example.com"}, "registryxexample.com.", false},
		{v1alpha1.FQDNSelector{MatchPattern: "*.example.com"}, "a.example.com.", true},
		{v1alpha1.FQDNSelector{MatchPattern: "*.example.com"}, "a.b.example.com.", true},
		{v1alpha1.FQDNSelector{MatchPattern: "*.example.com"}, "example.com.", false},
		{v1alpha1.FQDNSelector{MatchPattern: "*.example.com"}, "a.example.org.", false},
		{v1alpha1.FQDNSelector{MatchPattern: "api-*.example.com"}, "api-eu1.example.com.", true},
		{v1alpha1.FQDNSelector{MatchPattern: "*"}, "anything.at.all.", true},
	}
	for _, tt := range tests {
		t.Run(tt.sel.MatchName+tt.sel.MatchPattern+"/"+tt.name, func(t *testing.T) {
			if got := regexp.MustCompile(Regexp(tt.sel)).MatchString(tt.name); got != tt.match {
				t.Errorf("%+v matches %s: %v, want %v", tt.sel, tt.name, got, tt.match)
			}
		})
	}
}
