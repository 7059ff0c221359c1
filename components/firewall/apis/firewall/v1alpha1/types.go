package v1alpha1

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultNamespace is the namespace the agent reads policies from unless told
// otherwise; metal-stack's firewall-controller uses the same one.
const DefaultNamespace = "firewall"

// PolicyDeploymentState says whether a policy is part of the firewall's ruleset.
type PolicyDeploymentState string

const (
	// PolicyDeployed: the policy's rules are in the kernel ruleset.
	PolicyDeployed PolicyDeploymentState = "deployed"
	// PolicyIgnored: the policy is invalid and was left out; Message says why.
	PolicyIgnored PolicyDeploymentState = "ignored"
)

// ClusterwideNetworkPolicy allows traffic into (ingress) and out of (egress)
// the cluster behind the firewall. Everything not allowed by a policy or a
// Service of type LoadBalancer/NodePort is dropped.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=cwnp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`
type ClusterwideNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PolicySpec   `json:"spec,omitempty"`
	Status PolicyStatus `json:"status,omitempty"`
}

// ClusterwideNetworkPolicyList is a list of ClusterwideNetworkPolicy.
//
// +kubebuilder:object:root=true
type ClusterwideNetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterwideNetworkPolicy `json:"items"`
}

// PolicySpec holds the ingress and egress rules of a policy. The size caps
// (MaxItems here; also ingress plus egress rules, excepts per block and the
// product of address ranges and ports) are compile.Max*: the agent ignores a
// policy over them, with the reason in its status.
type PolicySpec struct {
	// Description is free text for people; rules are not identified by it.
	// +optional
	Description string `json:"description,omitempty"`
	// Ingress rules allow traffic from outside into the cluster.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Ingress []IngressRule `json:"ingress,omitempty"`
	// Egress rules allow traffic from the cluster to the outside.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Egress []EgressRule `json:"egress,omitempty"`
}

// IngressRule allows traffic that matches one of Ports and one of From.
type IngressRule struct {
	// Ports the traffic may go to; empty means all ports and protocols.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Ports []networkingv1.NetworkPolicyPort `json:"ports,omitempty"`
	// From are the sources; empty means any source.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	From []networkingv1.IPBlock `json:"from,omitempty"`
}

// EgressRule allows traffic that matches one of Ports and one of To or ToFQDNs.
type EgressRule struct {
	// Ports the traffic may go to; empty means all ports and protocols.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Ports []networkingv1.NetworkPolicyPort `json:"ports,omitempty"`
	// To are the destinations; empty (and no ToFQDNs) means any destination.
	// To and ToFQDNs exclude each other.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	To []networkingv1.IPBlock `json:"to,omitempty"`
	// ToFQDNs are destinations by DNS name, resolved through the agent's DNS proxy.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	ToFQDNs []FQDNSelector `json:"toFQDNs,omitempty"`
}

// FQDNSelector matches DNS names.
type FQDNSelector struct {
	// MatchName matches one name exactly.
	// +kubebuilder:validation:Pattern=`^([-a-zA-Z0-9_]+[.]?)+$`
	// +optional
	MatchName string `json:"matchName,omitempty"`
	// MatchPattern matches names with "*" standing for any run of name characters.
	// +kubebuilder:validation:Pattern=`^([-a-zA-Z0-9_*]+[.]?)+$`
	// +optional
	MatchPattern string `json:"matchPattern,omitempty"`
}

// PolicyStatus is the observed state of a policy.
type PolicyStatus struct {
	// State is deployed or ignored.
	// +optional
	State PolicyDeploymentState `json:"state,omitempty"`
	// Message explains an ignored policy.
	// +optional
	Message string `json:"message,omitempty"`
	// ObservedGeneration is the generation the state refers to.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// FQDNState maps a name or pattern to the nftables sets filled for it.
	// +optional
	FQDNState map[string][]IPSet `json:"fqdn_state,omitempty"`
}

// IPSet records which addresses a DNS name resolved to, in which set.
type IPSet struct {
	FQDN           string      `json:"fqdn,omitempty"`
	SetName        string      `json:"setName,omitempty"`
	IPs            []string    `json:"ips,omitempty"`
	ExpirationTime metav1.Time `json:"expirationTime,omitempty"`
	Version        string      `json:"version,omitempty"`
}

// FirewallStatus is the per-firewall status object the agent keeps up to date:
// what it applied, rule statistics and device counters.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Rules",type=integer,JSONPath=`.status.rules`
// +kubebuilder:printcolumn:name="Applied",type=date,JSONPath=`.status.lastApplied`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.agentVersion`
type FirewallStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status FirewallStatusStatus `json:"status,omitempty"`
}

// FirewallStatusList is a list of FirewallStatus.
//
// +kubebuilder:object:root=true
type FirewallStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FirewallStatus `json:"items"`
}

// FirewallStatusStatus is the observed state of one firewall.
type FirewallStatusStatus struct {
	// AgentVersion is the version of the agent.
	AgentVersion string `json:"agentVersion,omitempty"`
	// LastApplied is when the ruleset was last written to the kernel.
	// +optional
	LastApplied *metav1.Time `json:"lastApplied,omitempty"`
	// Rules is the number of policy and service rules in the ruleset.
	Rules int `json:"rules,omitempty"`
	// Policies counts deployed and ignored policies.
	DeployedPolicies int `json:"deployedPolicies,omitempty"`
	IgnoredPolicies  int `json:"ignoredPolicies,omitempty"`
	// Accepted and Dropped are packet totals of the forward chain.
	Accepted uint64 `json:"accepted,omitempty"`
	Dropped  uint64 `json:"dropped,omitempty"`
	// RuleStats are per-rule packet and byte counters.
	// +optional
	RuleStats []RuleStat `json:"ruleStats,omitempty"`
	// Devices are per-interface counters.
	// +optional
	Devices []DeviceStat `json:"devices,omitempty"`
	// Error is the last apply error, empty when the last apply succeeded.
	// +optional
	Error string `json:"error,omitempty"`
	// LastReported is when the agent last wrote this status: every 30 to 40
	// seconds while it runs (at once when the ruleset changes), so a much
	// older one means the agent stopped.
	// +optional
	LastReported *metav1.Time `json:"lastReported,omitempty"`
}

// RuleStat is a rule's counter.
type RuleStat struct {
	Name    string `json:"name"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// DeviceStat are an interface's counters.
type DeviceStat struct {
	Name      string `json:"name"`
	RxBytes   uint64 `json:"rxBytes"`
	TxBytes   uint64 `json:"txBytes"`
	RxPackets uint64 `json:"rxPackets"`
	TxPackets uint64 `json:"txPackets"`
	RxDropped uint64 `json:"rxDropped"`
	TxDropped uint64 `json:"txDropped"`
}
