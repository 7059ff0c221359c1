package operatingsystemconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/pelletier/go-toml/v2"
	"k8s.io/utils/ptr"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
)

// Paths and units of the extras.
const (
	DNSConfigPath        = "/etc/systemd/resolved.conf.d/90-metalkube-dns.conf"
	NTPConfigPath        = "/etc/systemd/timesyncd.conf.d/90-metalkube-ntp.conf"
	ContainerdConfigPath = "/etc/containerd/config.toml"
	ContainerdCertsDir   = "/etc/containerd/certs.d"
	ContainerdImportsDir = "/etc/containerd/conf.d"
	CNIPluginDir         = "/opt/cni/bin"

	// ContainerdExecDropIn is the name Gardener's OS extensions give the
	// containerd drop-in that sets ExecStart.
	ContainerdExecDropIn = "11-exec_config.conf"

	resolvedUnit   = "systemd-resolved.service"
	timesyncdUnit  = "systemd-timesyncd.service"
	containerdUnit = "containerd.service"
)

// extras returns the units and files metalkube adds to an OSC: Flatcar's
// automatic updates switched off, DNS and NTP settings, a containerd hosts.toml per registry mirror and, at provisioning,
// the containerd configuration. gardener-node-agent writes the containerd
// configuration and the hosts.toml of the OSC's own registries once it runs,
// so the reconcile purpose only gets what it does not write.
func extras(osc *extensionsv1alpha1.OperatingSystemConfig, pc *v1alpha1.OperatingSystemConfiguration) ([]extensionsv1alpha1.Unit, []extensionsv1alpha1.File, error) {
	var (
		units     []extensionsv1alpha1.Unit
		files     []extensionsv1alpha1.File
		provision = osc.Spec.Purpose == extensionsv1alpha1.OperatingSystemConfigPurposeProvision
		cri       = osc.Spec.CRIConfig
		// Gardener only knows containerd; an OSC without a CRI config still
		// runs it.
		containerd = cri == nil || cri.Name == extensionsv1alpha1.CRINameContainerD
	)
	inline := func(p, data string) extensionsv1alpha1.File {
		return extensionsv1alpha1.File{
			Path:        p,
			Permissions: ptr.To[uint32](0o644),
			Content:     extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: data}},
		}
	}

	if osc.Spec.Type == "flatcar" || osc.Spec.Type == "coreos" {
		// Flatcar updates itself and reboots to apply the update; a node's
		// OS changes through its machine image, not behind Kubernetes' back.
		for _, name := range []string{"update-engine.service", "locksmithd.service"} {
			units = append(units, extensionsv1alpha1.Unit{Name: name, Enable: ptr.To(false), Command: ptr.To(extensionsv1alpha1.CommandStop)})
		}
	}
	if len(pc.DNSServers) > 0 {
		// Domains=~. routes every name to these servers, ahead of the
		// per-link servers DHCP may hand out (see the package doc).
		files = append(files, inline(DNSConfigPath, "[Resolve]\nDNS="+strings.Join(pc.DNSServers, " ")+"\nDomains=~.\n"))
		units = append(units, extensionsv1alpha1.Unit{
			Name: resolvedUnit, Enable: ptr.To(true), Command: ptr.To(extensionsv1alpha1.CommandRestart),
			FilePaths: []string{DNSConfigPath},
		})
	}
	if len(pc.NTPServers) > 0 {
		files = append(files, inline(NTPConfigPath, "[Time]\nNTP="+strings.Join(pc.NTPServers, " ")+"\n"))
		units = append(units, extensionsv1alpha1.Unit{
			Name: timesyncdUnit, Enable: ptr.To(true), Command: ptr.To(extensionsv1alpha1.CommandRestart),
			FilePaths: []string{NTPConfigPath},
		})
	}
	if !containerd {
		return units, files, nil
	}
	// Every Gardener OS extension points containerd at
	// /etc/containerd/config.toml with this drop-in: Flatcar's containerd
	// reads /usr/share/containerd/config.toml otherwise, and other images'
	// units may pass their own. gardener-node-agent patches that file and
	// nothing else. The reconcile purpose sends it too, as an extension
	// unit: gardener-node-agent removes the drop-ins of units it manages that
	// the OSC does not list.
	execDropIn := extensionsv1alpha1.DropIn{Name: ContainerdExecDropIn, Content: containerdExecDropIn(osc.Spec.Type)}
	if !provision {
		units = append(units, extensionsv1alpha1.Unit{Name: containerdUnit, DropIns: []extensionsv1alpha1.DropIn{execDropIn}})
	}

	var registries []extensionsv1alpha1.RegistryConfig
	if cri != nil && cri.Containerd != nil {
		registries = cri.Containerd.Registries
	}
	var containerdFiles []string
	for _, m := range pc.RegistryMirrors {
		// The OSC's own configuration of an upstream wins.
		if slices.ContainsFunc(registries, func(r extensionsv1alpha1.RegistryConfig) bool { return r.Upstream == m.Upstream }) {
			continue
		}
		f := inline(hostsTOMLPath(m.Upstream), mirrorHostsTOML(m))
		files = append(files, f)
		containerdFiles = append(containerdFiles, f.Path)
	}
	if provision {
		for _, r := range registries {
			f := inline(hostsTOMLPath(r.Upstream), registryHostsTOML(r))
			files = append(files, f)
			containerdFiles = append(containerdFiles, f.Path)
		}
		// Without a CRI config containerd still gets a config, as OS
		// extensions give it one: the drop-in below points at it.
		config, err := containerdConfig(ptr.Deref(cri, extensionsv1alpha1.CRIConfig{}))
		if err != nil {
			return nil, nil, err
		}
		files = append(files, inline(ContainerdConfigPath, config))
		containerdFiles = append(containerdFiles, ContainerdConfigPath)
	}
	if provision {
		// containerd may have started before cloud-init wrote its files:
		// restart it (Ignition writes files before anything starts). Later
		// changes need no restart: containerd reads hosts.toml on each pull.
		units = append(units, extensionsv1alpha1.Unit{
			Name: containerdUnit, Enable: ptr.To(true), Command: ptr.To(extensionsv1alpha1.CommandRestart),
			DropIns: []extensionsv1alpha1.DropIn{execDropIn}, FilePaths: containerdFiles,
		})
	}
	return units, files, nil
}

// containerdExecDropIn is the drop-in making containerd read
// ContainerdConfigPath, with the binary where the OS type installs it.
func containerdExecDropIn(osType string) string {
	binary := "/usr/bin/containerd"
	if strings.HasPrefix(osType, "suse") {
		binary = "/usr/sbin/containerd"
	}
	return "[Service]\nExecStart=\nExecStart=" + binary + " --config=" + ContainerdConfigPath + "\n"
}

func hostsTOMLPath(upstream string) string {
	return path.Join(ContainerdCertsDir, upstream, "hosts.toml")
}

func defaultServer(upstream string) string {
	if upstream == "docker.io" {
		return "https://registry-1.docker.io"
	}
	return "https://" + upstream
}

type hostEntry struct {
	url          string
	capabilities []string
	ca           []string
	overridePath bool
}

func mirrorHostsTOML(m v1alpha1.RegistryMirror) string {
	server := m.Server
	if server == "" {
		server = defaultServer(m.Upstream)
	}
	hosts := make([]hostEntry, 0, len(m.Mirrors))
	for _, h := range m.Mirrors {
		caps := h.Capabilities
		if len(caps) == 0 {
			caps = []string{"pull", "resolve"}
		}
		hosts = append(hosts, hostEntry{url: h.URL, capabilities: caps, ca: h.CACerts, overridePath: h.OverridePath})
	}
	return hostsTOML(server, hosts)
}

func registryHostsTOML(r extensionsv1alpha1.RegistryConfig) string {
	server := ptr.Deref(r.Server, "")
	hosts := make([]hostEntry, 0, len(r.Hosts))
	for _, h := range r.Hosts {
		caps := make([]string, 0, len(h.Capabilities))
		for _, c := range h.Capabilities {
			caps = append(caps, string(c))
		}
		if len(caps) == 0 {
			caps = []string{"pull", "resolve"}
		}
		hosts = append(hosts, hostEntry{url: h.URL, capabilities: caps, ca: h.CACerts, overridePath: ptr.Deref(h.OverridePath, false)})
	}
	return hostsTOML(server, hosts)
}

// hostsTOML writes a containerd hosts.toml by hand: containerd tries the
// hosts in file order, which a TOML encoder's sorted tables would lose.
func hostsTOML(server string, hosts []hostEntry) string {
	var b strings.Builder
	b.WriteString("# written by metalkube\n")
	if server != "" {
		fmt.Fprintf(&b, "server = %s\n", tomlString(server))
	}
	for _, h := range hosts {
		fmt.Fprintf(&b, "\n[host.%s]\n  capabilities = %s\n", tomlString(h.url), tomlStrings(h.capabilities))
		if len(h.ca) > 0 {
			fmt.Fprintf(&b, "  ca = %s\n", tomlStrings(h.ca))
		}
		if h.overridePath {
			b.WriteString("  override_path = true\n")
		}
	}
	return b.String()
}

func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// containerdConfig renders /etc/containerd/config.toml (config version 2,
// which containerd 1.7 and 2.x both read) from the OSC's CRI config: imports
// of conf.d, the sandbox image, the cgroup driver, the registry hosts
// directory, the CNI plugin directory and the OSC's plugin patches. It sets
// the same keys gardener-node-agent later patches into the file, so the two
// agree.
func containerdConfig(cri extensionsv1alpha1.CRIConfig) (string, error) {
	cfg := map[string]any{
		"version": 2,
		"imports": []string{path.Join(ContainerdImportsDir, "*.toml")},
	}
	criPlugin := map[string]any{
		"registry": map[string]any{"config_path": ContainerdCertsDir},
		"cni":      map[string]any{"bin_dir": CNIPluginDir},
	}
	runc := map[string]any{"runtime_type": "io.containerd.runc.v2"}
	if cri.CgroupDriver != nil {
		runc["options"] = map[string]any{"SystemdCgroup": *cri.CgroupDriver == extensionsv1alpha1.CgroupDriverSystemd}
	}
	criPlugin["containerd"] = map[string]any{"runtimes": map[string]any{"runc": runc}}
	plugins := map[string]any{"io.containerd.grpc.v1.cri": criPlugin}
	cfg["plugins"] = plugins
	if cri.Containerd != nil {
		if cri.Containerd.SandboxImage != "" {
			criPlugin["sandbox_image"] = cri.Containerd.SandboxImage
		}
		for i, p := range cri.Containerd.Plugins {
			if err := applyPlugin(cfg, p); err != nil {
				return "", fmt.Errorf("criConfig.containerd.plugins[%d] %s: %w", i, strings.Join(p.Path, "."), err)
			}
		}
	}
	out, err := toml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode containerd config: %w", err)
	}
	return "# written by metalkube; gardener-node-agent keeps it up to date\n" + string(out), nil
}

// applyPlugin applies one plugin patch below plugins: add merges the values
// into the table at the path (creating it), remove deletes the table.
func applyPlugin(cfg map[string]any, p extensionsv1alpha1.PluginConfig) error {
	if len(p.Path) == 0 {
		return fmt.Errorf("empty path")
	}
	full := append([]string{"plugins"}, p.Path...)
	parent := cfg
	for _, key := range full[:len(full)-1] {
		next, ok := parent[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			parent[key] = next
		}
		parent = next
	}
	last := full[len(full)-1]
	switch op := ptr.Deref(p.Op, extensionsv1alpha1.AddPluginPathOperation); op {
	case extensionsv1alpha1.AddPluginPathOperation:
		table, ok := parent[last].(map[string]any)
		if !ok {
			table = map[string]any{}
		}
		if p.Values != nil && len(p.Values.Raw) > 0 {
			var values map[string]any
			dec := json.NewDecoder(bytes.NewReader(p.Values.Raw))
			dec.UseNumber()
			if err := dec.Decode(&values); err != nil {
				return fmt.Errorf("values: %w", err)
			}
			for k, v := range values {
				table[k] = tomlValue(v)
			}
		}
		parent[last] = table
	case extensionsv1alpha1.RemovePluginPathOperation:
		delete(parent, last)
	default:
		return fmt.Errorf("unknown operation %q", op)
	}
	return nil
}

// tomlValue turns JSON numbers into TOML integers where they are integral
// (JSON has one number type, TOML two).
func tomlValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = tomlValue(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = tomlValue(e)
		}
		return v
	default:
		return v
	}
}
