package compile_test

import (
	"fmt"
	"net/netip"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
)

// A policy allowing HTTPS in from one network becomes one element of an
// ingress verdict map (keyed by source, port and protocol) that accepts and
// counts for the policy's rule.
func ExampleCompile() {
	cfg := compile.Config{
		TableName:          "metalkube",
		ExternalInterfaces: []string{"ext0"},
		InternalInterfaces: []string{"int0"},
		NodeCIDRs:          []netip.Prefix{netip.MustParsePrefix("10.50.0.0/24")},
	}
	res := compile.Compile(cfg, compile.Input{Policies: []compile.Policy{{
		Name: "firewall/https",
		Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{
			From:  []networkingv1.IPBlock{fixture.Block("198.51.100.0/24")},
			Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(443)},
		}}},
	}}})
	fmt.Println(res.Rules[0].Counter)
	e := res.Table.Set("ingress4-stp").Elements[0]
	fmt.Println(e.Verdict, e.Owner)
	// Output:
	// cwnp.firewall.https.ingress-0
	// accept cwnp.firewall.https.ingress-0
}
