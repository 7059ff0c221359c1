package compile_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	. "github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/shared/testkit"
)

func tcp(port int32, end ...int32) networkingv1.NetworkPolicyPort { return fixture.TCP(port, end...) }
func block(cidr string, except ...string) networkingv1.IPBlock    { return fixture.Block(cidr, except...) }
func ptr[T any](v T) *T                                           { return &v }

func TestGolden(t *testing.T) {
	full := fixture.Config()
	full.AllowedIngressNetworks = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	full.AllowedEgressNetworks = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1"), netip.MustParsePrefix("2000::/3")}
	full.RateLimits = []RateLimit{{Interface: "ext0", BytesPerSecond: 125_000_000}}
	full.SNAT = append(full.SNAT, SNAT{Interface: "ext0"})
	tests := []struct {
		name string
		cfg  Config
		in   Input
	}{
		{"empty", fixture.Config(), Input{}},
		{"representative", fixture.Config(), fixture.Input()},
		{"port-groups", fixture.Config(), fixture.PortGroups()},
		{"all-features", full, fixture.Input()},
		{"fqdn", fqdnConfig(), Input{Now: fqdnNow, FQDN: map[string][]FQDNEntry{
			KernelName("fqdn", "cwnp.firewall.registry.egress-0") + "-4": {{IP: netip.MustParseAddr("192.0.2.10"), Expires: fqdnNow.Add(90 * time.Second)}, {IP: netip.MustParseAddr("192.0.2.11"), Expires: fqdnNow.Add(-time.Second)}},
		}, Policies: []Policy{{Name: "firewall/registry", Spec: v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{
			{ToFQDNs: []v1alpha1.FQDNSelector{{MatchName: "registry.example.com"}, {MatchPattern: "*.cdn.example.com"}}, Ports: []networkingv1.NetworkPolicyPort{tcp(443)}}}}}}}},
		{"overlapping", fixture.Config(), Input{Policies: []Policy{
			{Name: "a/wide", Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{block("198.51.100.0/24")}}}}},
			{Name: "b/narrow", Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{block("198.51.100.128/25"), block("192.0.2.0/24")},
				Ports: []networkingv1.NetworkPolicyPort{tcp(22)}}}}},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compile(tt.cfg, tt.in).Table.Render(false)
			path := filepath.Join("testdata", tt.name+".nft")
			testkit.Golden(t, path, []byte(got))
			// deterministic: the same input compiles to the same text
			if again := Compile(tt.cfg, tt.in).Table.Render(false); again != got {
				t.Error("two compilations of the same input differ")
			}
		})
	}
}

var fqdnNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fqdnConfig() Config {
	c := fixture.Config()
	c.FQDN = true
	return c
}

func TestInvalidPolicies(t *testing.T) {
	sctp := corev1.ProtocolSCTP
	tests := []struct {
		name string
		spec v1alpha1.PolicySpec
		want string
	}{
		{"bad CIDR", v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{block("10.0.0.300/8")}}}}, "invalid CIDR"},
		{"host bits", v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{block("10.0.0.1/8")}}}}, "host bits set"},
		{"except outside", v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{block("10.0.0.0/8", "11.0.0.0/8")}}}}, "is not inside"},
		{"port 0", v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{Ports: []networkingv1.NetworkPolicyPort{tcp(0)}}}}, "port 0 out of range"},
		{"endPort below port", v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{Ports: []networkingv1.NetworkPolicyPort{tcp(100, 99)}}}}, "endPort 99 is below port 100"},
		{"unsupported protocol", v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &sctp, Port: ptr(intstr.FromInt32(9))}}}}}, `unsupported protocol "SCTP"`},
		{"fqdn without proxy", v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{ToFQDNs: []v1alpha1.FQDNSelector{{MatchName: "example.com"}}}}}, "without its DNS proxy"},
		{"to and toFQDNs", v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{To: []networkingv1.IPBlock{block("0.0.0.0/0")}, ToFQDNs: []v1alpha1.FQDNSelector{{MatchName: "example.com"}}}}}, "exclude each other"},
		{"too many blocks", v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: blocks(MaxBlocks + 1)}}}, "ingress[0].from: 257 entries: more than 256"},
		{"too many ports", v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{Ports: ports(MaxPorts + 1)}}}, "egress[0].ports: 65 entries: more than 64"},
		{"too many elements", v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: blocks(100), Ports: ports(50)}}}, "5000 address ranges x ports, more than 4096"},
		{"huge policy", v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: blocks(250), Ports: ports(50)}, {From: blocks(250), Ports: ports(50)}}}, "more than 4096"},
		{"named port", v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromString("http"))}}}}}, "named port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := fixture.Input()
			want := Compile(fixture.Config(), good).Table.Render(false)
			bad := good
			bad.Policies = append(append([]Policy(nil), good.Policies...), Policy{Name: "firewall/bad", Spec: tt.spec})
			res := Compile(fixture.Config(), bad)
			pr := res.Policies["firewall/bad"]
			if !pr.Ignored || !strings.Contains(pr.Message, tt.want) {
				t.Fatalf("got %+v, want ignored with message containing %q", pr, tt.want)
			}
			if got := res.Table.Render(false); got != want {
				t.Error("an ignored policy changed the ruleset")
			}
		})
	}
}

// blocks returns n distinct /32 blocks; ports n distinct TCP ports.
func blocks(n int) []networkingv1.IPBlock {
	out := make([]networkingv1.IPBlock, n)
	for i := range out {
		out[i] = block(fmt.Sprintf("100.%d.%d.%d/32", 64+i>>16, (i>>8)&0xff, i&0xff))
	}
	return out
}

func ports(n int) []networkingv1.NetworkPolicyPort {
	out := make([]networkingv1.NetworkPolicyPort, n)
	for i := range out {
		out[i] = tcp(int32(1000 + i))
	}
	return out
}

func TestServiceSourceRangesAnnotation(t *testing.T) {
	svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web",
		Annotations: map[string]string{"service.beta.kubernetes.io/load-balancer-source-ranges": "198.51.100.0/24, 2001:db8::/32"}},
		Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "10.50.1.10"}, {IP: "fd00:50:1::10"}}}}}
	tbl := Compile(fixture.Config(), Input{Services: []corev1.Service{svc}}).Table
	for set, want := range map[string]string{
		"ingress4-sdtp": "198.51.100.0/24 . 10.50.1.10 . 80 . tcp : accept",
		"ingress6-sdtp": "2001:db8::/32 . fd00:50:1::10 . 80 . tcp : accept",
	} {
		if got := tbl.Render(false); !strings.Contains(got, want) || tbl.Set(set) == nil || tbl.Set(set).Elements[0].Owner != "svc.default.web" {
			t.Errorf("%s: no element %q in\n%s", set, want, got)
		}
	}
}
