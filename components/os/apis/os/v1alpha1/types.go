package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// GroupName, Version and Kind identify the providerConfig type.
const (
	GroupName = "os.metalkube.io"
	Version   = "v1alpha1"
	Kind      = "OperatingSystemConfiguration"
	// APIVersion is the apiVersion a providerConfig must carry.
	APIVersion = GroupName + "/" + Version
)

// Format is the user data format rendered for a provision
// OperatingSystemConfig.
type Format string

// The formats metalkube renders.
const (
	// FormatIgnition renders an Ignition config, spec 3.5.0.
	FormatIgnition Format = "ignition"
	// FormatCloudInit renders a #cloud-config document.
	FormatCloudInit Format = "cloud-init"
)

// Formats lists the valid formats.
func Formats() []Format { return []Format{FormatIgnition, FormatCloudInit} }

// OperatingSystemConfiguration is the providerConfig of an
// OperatingSystemConfig handled by metalkube.
type OperatingSystemConfiguration struct {
	metav1.TypeMeta `json:",inline"`

	// Format overrides the output format configured for the OSC's type.
	// +optional
	Format Format `json:"format,omitempty"`
	// DNSServers are IP addresses written as systemd-resolved's DNS= setting.
	// +optional
	DNSServers []string `json:"dnsServers,omitempty"`
	// NTPServers are host names or IP addresses written as
	// systemd-timesyncd's NTP= setting.
	// +optional
	NTPServers []string `json:"ntpServers,omitempty"`
	// RegistryMirrors become containerd hosts.toml files, one per upstream,
	// under /etc/containerd/certs.d. They apply when the CRI is containerd.
	// +optional
	RegistryMirrors []RegistryMirror `json:"registryMirrors,omitempty"`
}

// RegistryMirror lists the mirrors of one upstream registry.
type RegistryMirror struct {
	// Upstream is the registry host (and port) as it appears in image
	// references, e.g. docker.io or registry.example.org:5000.
	Upstream string `json:"upstream"`
	// Server is the upstream's own URL, tried after the mirrors. Defaults to
	// https://<upstream> (https://registry-1.docker.io for docker.io).
	// +optional
	Server string `json:"server,omitempty"`
	// Mirrors are tried in order.
	Mirrors []MirrorHost `json:"mirrors"`
}

// MirrorHost is one mirror of a registry.
type MirrorHost struct {
	// URL of the mirror, http or https.
	URL string `json:"url"`
	// Capabilities of the mirror: pull, resolve, push. Defaults to pull and
	// resolve.
	// +optional
	Capabilities []string `json:"capabilities,omitempty"`
	// CACerts are paths on the node of CA bundles that verify the mirror.
	// +optional
	CACerts []string `json:"caCerts,omitempty"`
	// OverridePath says the URL already contains the API path (no /v2 is
	// appended).
	// +optional
	OverridePath bool `json:"overridePath,omitempty"`
}
