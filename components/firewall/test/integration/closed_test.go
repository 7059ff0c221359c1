package integration

import (
	"testing"

	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/internal/topology"
)

// TestFailClosed: the table an agent installs before it has reached the API
// server drops forwarded traffic that an empty kernel forwards; a restarted
// agent keeps whatever table is there; the first ruleset replaces it.
func TestFailClosed(t *testing.T) {
	top := topology.New(t)
	serve(t, top.Int, 443)
	cfg := fixture.Config()
	open := flow{name: "no table: forwarded", from: top.Ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 443, allowed: true}
	checkFlows(t, []flow{open})

	installed, err := newApplier(t, top.FW).InstallIfAbsent(compile.FailClosed(cfg))
	if err != nil || !installed {
		t.Fatalf("install fail-closed table: installed %v, %v", installed, err)
	}
	checkFlows(t, []flow{{name: "fail closed: dropped", from: top.Ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 443}})

	restarted := newApplier(t, top.FW)
	if installed, err := restarted.InstallIfAbsent(compile.FailClosed(cfg)); err != nil || installed {
		t.Fatalf("a table was there: installed %v, %v", installed, err)
	}
	if _, err := restarted.Apply(compile.Compile(cfg, fixture.Input()).Table); err != nil {
		t.Fatal(err)
	}
	open.name = "first ruleset: allowed"
	checkFlows(t, []flow{open, {name: "first ruleset: other port dropped", from: top.Ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 22}})
}

// TestInputChain: the agent's ports (metrics, health, DNS proxy) answer on
// the internal side only; the host's other ports are left alone.
func TestInputChain(t *testing.T) {
	top := topology.New(t)
	serve(t, top.FW, 2112, 53, 2222)
	cfg := fixture.Config()
	cfg.AgentPorts = []compile.AgentPort{{Proto: 6, Port: 2112}, {Proto: 6, Port: 53}, {Proto: 17, Port: 53}}
	if _, err := newApplier(t, top.FW).Apply(compile.Compile(cfg, fixture.Input()).Table); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{
		{name: "metrics from outside dropped", from: top.Ext, proto: "tcp", src: "203.0.113.2", dst: "203.0.113.1", port: 2112},
		{name: "dns udp from outside dropped", from: top.Ext, proto: "udp", src: "203.0.113.2", dst: "203.0.113.1", port: 53},
		{name: "dns tcp from outside dropped", from: top.Ext, proto: "tcp", src: "203.0.113.2", dst: "203.0.113.1", port: 53},
		{name: "dns from outside to the internal address dropped", from: top.Ext, proto: "udp", src: "203.0.113.2", dst: "10.50.0.1", port: 53},
		{name: "dns ipv6 from outside dropped", from: top.Ext, proto: "udp", src: "2001:db8::2", dst: "2001:db8::1", port: 53},
		{name: "metrics from inside answered", from: top.Int, proto: "tcp", src: "10.50.0.2", dst: "10.50.0.1", port: 2112, allowed: true},
		{name: "dns from inside answered", from: top.Int, proto: "udp", src: "10.50.0.2", dst: "10.50.0.1", port: 53, allowed: true},
		{name: "other host port from outside left alone", from: top.Ext, proto: "tcp", src: "203.0.113.2", dst: "203.0.113.1", port: 2222, allowed: true},
	})
}
