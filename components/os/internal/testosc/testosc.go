package testosc

import (
	"encoding/base64"
	"fmt"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// Namespace is the namespace of the OSCs and Secrets built here.
const Namespace = "shoot--metal--prod"

// ProviderConfig is a providerConfig with every extra.
const ProviderConfig = `{"apiVersion":"os.metalkube.io/v1alpha1","kind":"OperatingSystemConfiguration",` +
	`"dnsServers":["10.250.0.10","2001:db8::53"],"ntpServers":["ntp1.example.org","10.250.0.123"],` +
	`"registryMirrors":[{"upstream":"docker.io","mirrors":[{"url":"https://mirror.example.org","capabilities":["pull","resolve"],"caCerts":["/etc/ssl/certs/mirror-ca.pem"]},{"url":"http://10.250.0.20:5000","capabilities":["pull"]}]},` +
	`{"upstream":"ghcr.io:443","server":"https://ghcr.io","mirrors":[{"url":"https://ghcr-mirror.example.org/v2/ghcr","overridePath":true}]}]}`

// NodeInitUnit is a unit shaped like gardenlet's gardener-node-init.service.
const NodeInitUnit = `[Unit]
Description=Downloads the gardener-node-agent binary from the container registry and bootstraps it.
After=containerd.service
After=network-online.target
Wants=network-online.target
[Service]
Type=oneshot
Restart=on-failure
RestartSec=5
StartLimitBurst=0
EnvironmentFile=/etc/environment
ExecStart=/var/lib/gardener-node-agent/init.sh
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=multi-user.target
`

const initScript = `#!/usr/bin/env bash
set -o errexit
set -o nounset
set -o pipefail

image="europe-docker.pkg.dev/gardener-project/releases/gardener/node-agent:v1.150.0"
tmp_dir="$(mktemp -d)"
trap 'ctr images unmount "$tmp_dir" && rm -rf "$tmp_dir"' EXIT
ctr images pull --hosts-dir "/etc/containerd/certs.d" "$image"
ctr images mount "$image" "$tmp_dir"
mkdir -p /opt/bin
cp -f "$tmp_dir/gardener-node-agent" /opt/bin/
chmod +x /opt/bin/gardener-node-agent
exec /opt/bin/gardener-node-agent bootstrap --config-dir=/var/lib/gardener-node-agent/config
`

const caBundle = `-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIUY2x1c3Rlci1jYS1mb3ItdGVzdHMwCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHdGVzdC1jYTAeFw0yNjAxMDEwMDAwMDBaFw0zNjAxMDEwMDAw
MDBaMBIxEDAOBgNVBAMMB3Rlc3QtY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQx8d7aC3Q2nq8Z1YwLtestdataonlynotarealcertificate000000000000
-----END CERTIFICATE-----
`

// Secrets are the Secrets the realistic OSC refers to.
func Secrets() []*corev1.Secret {
	return []*corev1.Secret{{
		ObjectMeta: metav1.ObjectMeta{Name: "node-agent-config", Namespace: Namespace},
		Data: map[string][]byte{
			"config.yaml": []byte("apiVersion: nodeagent.config.gardener.cloud/v1alpha1\nkind: NodeAgentConfiguration\napiServer:\n  server: https://api.prod.metal.example.org\n"),
			"kubelet.key": {0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00, 0xff, 0xfe, 0x00, '\n'},
		},
	}}
}

// Realistic returns a provision OSC like the one gardenlet creates, with
// metalkube's providerConfig, of the given type.
func Realistic(name, osType string) *extensionsv1alpha1.OperatingSystemConfig {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	osc := &extensionsv1alpha1.OperatingSystemConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: extensionsv1alpha1.OperatingSystemConfigSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{
				Type:           osType,
				ProviderConfig: &runtime.RawExtension{Raw: []byte(ProviderConfig)},
			},
			Purpose: extensionsv1alpha1.OperatingSystemConfigPurposeProvision,
			CRIConfig: &extensionsv1alpha1.CRIConfig{
				Name:         extensionsv1alpha1.CRINameContainerD,
				CgroupDriver: ptr.To(extensionsv1alpha1.CgroupDriverSystemd),
				Containerd: &extensionsv1alpha1.ContainerdConfig{
					SandboxImage: "registry.k8s.io/pause:3.10",
					Registries: []extensionsv1alpha1.RegistryConfig{{
						Upstream: "registry.k8s.io",
						Server:   ptr.To("https://registry.k8s.io"),
						Hosts: []extensionsv1alpha1.RegistryHost{{
							URL:          "https://k8s-mirror.example.org",
							Capabilities: []extensionsv1alpha1.RegistryCapability{extensionsv1alpha1.PullCapability, extensionsv1alpha1.ResolveCapability},
							CACerts:      []string{"/etc/ssl/certs/k8s-mirror.pem"},
						}},
					}},
					Plugins: []extensionsv1alpha1.PluginConfig{
						{
							Path:   []string{"io.containerd.grpc.v1.cri", "containerd", "runtimes", "gvisor"},
							Values: &apiextensionsv1.JSON{Raw: []byte(`{"runtime_type":"io.containerd.runsc.v1","pod_annotations":["dev.gvisor.*"],"privileged_without_host_devices":true}`)},
						},
						{
							Path:   []string{"io.containerd.grpc.v1.cri"},
							Values: &apiextensionsv1.JSON{Raw: []byte(`{"max_concurrent_downloads":5}`)},
						},
						{
							Op:   ptr.To(extensionsv1alpha1.RemovePluginPathOperation),
							Path: []string{"io.containerd.grpc.v1.cri", "cni"},
						},
					},
				},
			},
			Units: []extensionsv1alpha1.Unit{
				{
					Name: "gardener-node-init.service", Command: ptr.To(extensionsv1alpha1.CommandStart), Enable: ptr.To(true),
					Content: ptr.To(NodeInitUnit), FilePaths: []string{"/var/lib/gardener-node-agent/init.sh"},
				},
				{
					Name: "containerd.service",
					DropIns: []extensionsv1alpha1.DropIn{
						{Name: "30-env-config.conf", Content: "[Service]\nEnvironment=\"PATH=/var/bin/containerruntimes:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n"},
					},
				},
				{
					Name: "kubelet-monitor.timer", Enable: ptr.To(true), Command: ptr.To(extensionsv1alpha1.CommandStart),
					Content: ptr.To("[Unit]\nDescription=Checks the kubelet every minute\n[Timer]\nOnCalendar=minutely\nPersistent=true\n[Install]\nWantedBy=timers.target\n"),
				},
				{
					Name:    "kubelet-monitor.service",
					Content: ptr.To("[Unit]\nDescription=Kubelet health check\n[Service]\nType=oneshot\nExecStart=/opt/bin/health-monitor kubelet\n"),
					DropIns: []extensionsv1alpha1.DropIn{{Name: "50-timeout.conf", Content: "[Service]\nTimeoutStartSec=30s\n"}},
				},
				{
					Name: "kubelet.service", Enable: ptr.To(true), Command: ptr.To(extensionsv1alpha1.CommandStart),
					Content: ptr.To("[Unit]\nDescription=kubelet daemon\nDocumentation=https://kubernetes.io/docs/admin/kubelet\nAfter=containerd.service\n" +
						"[Install]\nWantedBy=multi-user.target\n[Service]\nRestart=always\nRestartSec=5\nEnvironmentFile=/etc/environment\n" +
						"EnvironmentFile=-/var/lib/kubelet/extra_args\nExecStartPre=/var/lib/kubelet/copy-kubernetes-binary.sh kubelet\n" +
						"ExecStart=/opt/bin/kubelet \\\n    --bootstrap-kubeconfig=/var/lib/kubelet/kubeconfig-bootstrap \\\n    --config=/var/lib/kubelet/config/kubelet \\\n" +
						"    --kubeconfig=/var/lib/kubelet/kubeconfig-real \\\n    --node-labels=worker.gardener.cloud/kubernetes-version=1.36.4 \\\n    $KUBELET_EXTRA_ARGS\n"),
					DropIns: []extensionsv1alpha1.DropIn{
						{Name: "10-cgroup-driver.conf", Content: "[Service]\nExecStartPre=/opt/bin/kubelet_cgroup_driver.sh\n"},
						{Name: "20-memory.conf", Content: "[Service]\nMemoryLow=512M\nMemoryMin=256M\n"},
					},
					FilePaths: []string{"/var/lib/kubelet/config/kubelet"},
				},
				{
					Name: "sshd-ensurer.service", Enable: ptr.To(true), Command: ptr.To(extensionsv1alpha1.CommandRestart),
					Content: ptr.To("[Unit]\nDescription=Ensures sshd is in the state the shoot asks for\n[Service]\nType=oneshot\nExecStart=/var/lib/sshd-ensurer/run.sh\n"),
				},
				{
					Name: "sshd-ensurer.timer", Enable: ptr.To(true), Command: ptr.To(extensionsv1alpha1.CommandStart),
					Content: ptr.To("[Unit]\nDescription=Timer of sshd-ensurer\n[Timer]\nOnBootSec=30s\nOnUnitActiveSec=1min\n[Install]\nWantedBy=timers.target\n"),
				},
				{Name: "update-engine.service", Command: ptr.To(extensionsv1alpha1.CommandStop), Enable: ptr.To(false)},
				{Name: "systemd-timesyncd.service", DropIns: []extensionsv1alpha1.DropIn{{Name: "10-wait.conf", Content: "[Unit]\nAfter=network-online.target\n"}}},
			},
			Files: []extensionsv1alpha1.File{
				{
					Path: "/var/lib/gardener-node-agent/init.sh", Permissions: ptr.To[uint32](0o755),
					Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Encoding: "b64", Data: b64(initScript)}},
				},
				{
					Path: "/var/lib/gardener-node-agent/credentials/bootstrap-token", Permissions: ptr.To[uint32](0o640),
					Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: "<<BOOTSTRAP_TOKEN>>"}, TransmitUnencoded: ptr.To(true)},
				},
				{
					Path: "/var/lib/gardener-node-agent/machine-name", Permissions: ptr.To[uint32](0o640),
					Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Encoding: "b64", Data: b64("<<MACHINE_NAME>>")}, TransmitUnencoded: ptr.To(true)},
				},
				{
					Path: "/var/lib/gardener-node-agent/credentials/ca.crt", Permissions: ptr.To[uint32](0o640),
					Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Encoding: "b64", Data: b64(caBundle)}},
				},
				{
					Path: "/var/lib/gardener-node-agent/config/config.yaml", Permissions: ptr.To[uint32](0o600),
					Content: extensionsv1alpha1.FileContent{SecretRef: &extensionsv1alpha1.FileContentSecretRef{Name: "node-agent-config", DataKey: "config.yaml"}},
				},
				{
					Path: "/var/lib/kubelet/pki/kubelet.key", Permissions: ptr.To[uint32](0o600),
					Content: extensionsv1alpha1.FileContent{SecretRef: &extensionsv1alpha1.FileContentSecretRef{Name: "node-agent-config", DataKey: "kubelet.key"}},
				},
				{
					Path: "/opt/bin/health-monitor", Permissions: ptr.To[uint32](0o755),
					Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: "#!/bin/sh\n# checks \"$1\" and restarts it when unhealthy\nsystemctl is-active --quiet \"$1\" || systemctl restart \"$1\"\n"}},
				},
				{
					Path:    "/etc/sysctl.d/99-k8s-general.conf",
					Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: "net.ipv4.ip_forward = 1\nvm.max_map_count = 135217728\nfs.inotify.max_user_watches = 524288\n"}},
				},
				{
					Path: "/etc/motd", Permissions: ptr.To[uint32](0o644),
					Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: "  Welcome to a metalkube node: ümlauts, tabs\tand trailing spaces   \n"}},
				},
				{
					Path: "/etc/hostname-specific.conf", HostName: ptr.To("machine-0"),
					Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: "only for machine-0\n"}},
				},
			},
		},
	}
	return osc
}

// Large returns a provision OSC with the given numbers of units (each with
// two drop-ins) and files (a mix of plain, base64 and Secret content of a
// few KiB each), and the Secret it refers to.
func Large(units, files int) (*extensionsv1alpha1.OperatingSystemConfig, *corev1.Secret) {
	osc := Realistic("large", "ubuntu")
	osc.Spec.Units, osc.Spec.Files = nil, nil
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "large-files", Namespace: Namespace}, Data: map[string][]byte{}}
	body := make([]byte, 0, 4096)
	for len(body) < 3000 {
		body = append(body, "some.setting = value # with a comment, quotes \" and a <<PLACEHOLDER>>\n"...)
	}
	for i := range units {
		content := fmt.Sprintf("[Unit]\nDescription=Unit %d\nAfter=network-online.target\n[Service]\nType=simple\nExecStart=/opt/bin/worker-%d --flag=value\nRestart=always\n[Install]\nWantedBy=multi-user.target\n", i, i)
		osc.Spec.Units = append(osc.Spec.Units, extensionsv1alpha1.Unit{
			Name: fmt.Sprintf("worker-%d.service", i), Enable: ptr.To(true), Command: ptr.To(extensionsv1alpha1.CommandRestart), Content: ptr.To(content),
			DropIns: []extensionsv1alpha1.DropIn{
				{Name: "10-env.conf", Content: fmt.Sprintf("[Service]\nEnvironment=WORKER=%d\n", i)},
				{Name: "20-limits.conf", Content: "[Service]\nLimitNOFILE=1048576\n"},
			},
		})
	}
	for i := range files {
		path := fmt.Sprintf("/etc/metalkube/large/file-%03d.conf", i)
		var c extensionsv1alpha1.FileContent
		switch i % 3 {
		case 0:
			c.Inline = &extensionsv1alpha1.FileContentInline{Data: string(body)}
		case 1:
			c.Inline = &extensionsv1alpha1.FileContentInline{Encoding: "b64", Data: base64.StdEncoding.EncodeToString(body)}
		case 2:
			key := fmt.Sprintf("file-%03d", i)
			secret.Data[key] = body
			c.SecretRef = &extensionsv1alpha1.FileContentSecretRef{Name: secret.Name, DataKey: key}
		}
		osc.Spec.Files = append(osc.Spec.Files, extensionsv1alpha1.File{Path: path, Permissions: ptr.To[uint32](0o644), Content: c})
	}
	return osc, secret
}
