package infrastructure

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	ignition "github.com/coreos/ignition/v2/config/v3_5/types"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
)

// What the firewall image provides and where the user data puts things.
const (
	// AgentBinary is metalkube in the firewall image.
	AgentBinary = "/usr/local/bin/metalkube"
	// AgentKubeconfig is the agents' kubeconfig of the shoot.
	AgentKubeconfig = "/etc/metalkube/firewall/kubeconfig"
	// AgentUnit runs the agent.
	AgentUnit = "metalkube-firewall.service"
	// InternalInterface faces the node network; ExternalInterfacePrefix and
	// the index of a firewall network name the interface facing it.
	InternalInterface       = "int0"
	ExternalInterfacePrefix = "ext"
)

// Agent flags the user data sets (components/firewall/app's names; the
// extension does not import the component).
const (
	agentFlagKubeconfig         = "kubeconfig"
	agentFlagFirewallName       = "firewall-name"
	agentFlagInternalInterfaces = "internal-interfaces"
	agentFlagExternalInterfaces = "external-interfaces"
	agentFlagNodeCIDRs          = "node-cidrs"
	agentFlagPolicyNamespace    = "policy-namespace"
	agentFlagRateLimits         = "rate-limits"
	agentFlagSNAT               = "snat"
	agentFlagFailClosed         = "fail-closed"
)

func agentFlag(name, value string) string { return "--" + name + "=" + value }

// ExternalInterface is the interface facing the i-th firewall network.
func ExternalInterface(i int) string { return ExternalInterfacePrefix + strconv.Itoa(i) }

// AgentArgs are the agent's arguments for a firewall spec and the
// cluster's networks (all but its name, which is a hash of them).
func AgentArgs(fw *v1alpha1.Firewall, st *v1alpha1.InfrastructureStatus) []string {
	args := []string{"firewall", agentFlag(agentFlagKubeconfig, AgentKubeconfig), agentFlag(agentFlagPolicyNamespace, FirewallPolicyNamespace),
		agentFlag(agentFlagInternalInterfaces, InternalInterface), agentFlag(agentFlagFailClosed, "true")}
	var ext []string
	for i := range fw.Networks {
		ext = append(ext, ExternalInterface(i))
	}
	if len(ext) > 0 {
		args = append(args, agentFlag(agentFlagExternalInterfaces, strings.Join(ext, ",")))
	}
	if st.Network != nil && len(st.Network.Prefixes) > 0 {
		args = append(args, agentFlag(agentFlagNodeCIDRs, strings.Join(st.Network.Prefixes, ",")))
	}
	iface := func(network string) string {
		if i := slices.Index(fw.Networks, network); i >= 0 {
			return ExternalInterface(i)
		}
		return InternalInterface // the node network
	}
	for _, rl := range fw.RateLimits {
		args = append(args, agentFlag(agentFlagRateLimits, fmt.Sprintf("%s=%d", iface(rl.Network), rl.RateMbit)))
	}
	for i, n := range fw.Networks {
		snat := ExternalInterface(i) // masquerade behind the firewall's address
		for _, r := range fw.EgressRules {
			if r.Network == n && len(r.IPs) > 0 {
				snat += "=" + r.IPs[0]
			}
		}
		args = append(args, agentFlag(agentFlagSNAT, snat))
	}
	return args
}

// FirewallUserData is the firewall machine's Ignition config: the agents'
// kubeconfig (mode 0600) and a unit running the agent with args as
// firewall name. It holds a token: it is never logged.
func FirewallUserData(args []string, name string, kubeconfig []byte) ([]byte, error) {
	exec := append([]string{AgentBinary}, args...)
	exec = append(exec, agentFlag(agentFlagFirewallName, name))
	unit := "[Unit]\nDescription=metalkube firewall agent\nWants=network-online.target\nAfter=network-online.target\n\n" +
		"[Service]\nExecStart=" + strings.Join(exec, " ") + "\nRestart=always\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n"
	cfg := ignition.Config{
		Ignition: ignition.Ignition{Version: "3.5.0"},
		Storage: ignition.Storage{Files: []ignition.File{{
			Node: ignition.Node{Path: AgentKubeconfig, Overwrite: new(true)},
			FileEmbedded1: ignition.FileEmbedded1{Mode: new(0o600),
				Contents: ignition.Resource{Source: new("data:;base64," + base64.StdEncoding.EncodeToString(kubeconfig))}},
		}}},
		Systemd: ignition.Systemd{Units: []ignition.Unit{{Name: AgentUnit, Enabled: new(true), Contents: new(unit)}}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("firewall user data: %w", err)
	}
	return b, nil
}

// AgentCommand extracts the agent's command line and kubeconfig from a
// firewall's user data (what a firewall machine runs on boot).
func AgentCommand(userData []byte) (args []string, kubeconfig []byte, err error) {
	var cfg ignition.Config
	if err := json.Unmarshal(userData, &cfg); err != nil {
		return nil, nil, fmt.Errorf("firewall user data: %w", err)
	}
	for _, u := range cfg.Systemd.Units {
		if u.Name != AgentUnit || u.Contents == nil {
			continue
		}
		for l := range strings.SplitSeq(*u.Contents, "\n") {
			if cmd, ok := strings.CutPrefix(l, "ExecStart="); ok {
				args = strings.Fields(cmd)
			}
		}
	}
	for _, f := range cfg.Storage.Files {
		if f.Path != AgentKubeconfig || f.Contents.Source == nil {
			continue
		}
		_, data, ok := strings.Cut(*f.Contents.Source, ";base64,")
		if !ok {
			return nil, nil, fmt.Errorf("firewall user data: %s is not base64 data", AgentKubeconfig)
		}
		if kubeconfig, err = base64.StdEncoding.DecodeString(data); err != nil {
			return nil, nil, fmt.Errorf("firewall user data: %s: %w", AgentKubeconfig, err)
		}
	}
	if len(args) < 2 || len(kubeconfig) == 0 {
		return nil, nil, fmt.Errorf("firewall user data: no unit %s with ExecStart or no file %s", AgentUnit, AgentKubeconfig)
	}
	return args, kubeconfig, nil
}
