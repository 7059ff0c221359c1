package topology

import (
	"testing"

	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// Topology is three namespaces: Ext (a host outside) -- FW (the firewall,
// forwarding between its interfaces ext0 and int0) -- Int (a cluster node).
//
//	Ext eth0 203.0.113.2/24, .3/24, 198.51.100.7/32, 2001:db8::2/64, 2001:db9::2/64, 2001:db8:1::2/64
//	FW  ext0 203.0.113.1/24, 2001:db8::1/64, 2001:db9::1/64, 2001:db8:1::1/64; int0 10.50.0.1/24, fd00:50::1/64
//	Int eth0 10.50.0.2/24, fd00:50::2/64; lo 10.50.1.10/32 (a LoadBalancer IP)
type Topology struct {
	Ext, FW, Int *netns.NS
}

// New builds the three namespaces and their links.
func New(t testing.TB) *Topology {
	t.Helper()
	netns.Require(t)
	top := &Topology{Ext: netns.New(t, "fwext"), FW: netns.New(t, "fwfw"), Int: netns.New(t, "fwint")}
	netns.Run(t, "ip", "link", "add", "ext0", "netns", top.FW.Name, "type", "veth", "peer", "name", "eth0", "netns", top.Ext.Name)
	netns.Run(t, "ip", "link", "add", "int0", "netns", top.FW.Name, "type", "veth", "peer", "name", "eth0", "netns", top.Int.Name)
	for _, c := range [][]string{
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
		{"ip", "addr", "add", "203.0.113.1/24", "dev", "ext0"},
		{"ip", "addr", "add", "2001:db8::1/64", "dev", "ext0", "nodad"},
		{"ip", "addr", "add", "2001:db9::1/64", "dev", "ext0", "nodad"},
		{"ip", "addr", "add", "2001:db8:1::1/64", "dev", "ext0", "nodad"},
		{"ip", "addr", "add", "10.50.0.1/24", "dev", "int0"},
		{"ip", "addr", "add", "fd00:50::1/64", "dev", "int0", "nodad"},
		{"ip", "link", "set", "ext0", "up"},
		{"ip", "link", "set", "int0", "up"},
		{"ip", "route", "add", "198.51.100.0/24", "via", "203.0.113.2"},
		{"ip", "route", "add", "10.50.1.0/24", "via", "10.50.0.2"},
	} {
		top.FW.Exec(t, c...)
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", "203.0.113.2/24", "dev", "eth0"},
		{"ip", "addr", "add", "203.0.113.3/24", "dev", "eth0"},
		{"ip", "addr", "add", "198.51.100.7/32", "dev", "eth0"},
		{"ip", "addr", "add", "2001:db8::2/64", "dev", "eth0", "nodad"},
		{"ip", "addr", "add", "2001:db9::2/64", "dev", "eth0", "nodad"},
		{"ip", "addr", "add", "2001:db8:1::2/64", "dev", "eth0", "nodad"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "route", "add", "default", "via", "203.0.113.1"},
		{"ip", "-6", "route", "add", "default", "via", "2001:db8::1"},
	} {
		top.Ext.Exec(t, c...)
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", "10.50.0.2/24", "dev", "eth0"},
		{"ip", "addr", "add", "fd00:50::2/64", "dev", "eth0", "nodad"},
		{"ip", "addr", "add", "10.50.1.10/32", "dev", "lo"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "route", "add", "default", "via", "10.50.0.1"},
		{"ip", "-6", "route", "add", "default", "via", "fd00:50::1"},
	} {
		top.Int.Exec(t, c...)
	}
	return top
}
