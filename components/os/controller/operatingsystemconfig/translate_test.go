package operatingsystemconfig_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	v1beta1helper "github.com/gardener/gardener/pkg/api/core/v1beta1/helper"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
	"github.com/metalkube/metalkube/components/os/controller/operatingsystemconfig"
	"github.com/metalkube/metalkube/components/os/internal/testosc"
	"github.com/metalkube/metalkube/components/os/internal/userdatatest"
)

func newTranslator(objs ...client.Object) *operatingsystemconfig.Translator {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	for _, sec := range testosc.Secrets() {
		objs = append(objs, sec)
	}
	return &operatingsystemconfig.Translator{
		Secrets:       fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build(),
		Formats:       operatingsystemconfig.DefaultFormats(),
		DefaultFormat: v1alpha1.FormatCloudInit,
	}
}

func minimal(osType string) *extensionsv1alpha1.OperatingSystemConfig {
	return &extensionsv1alpha1.OperatingSystemConfig{
		Spec: extensionsv1alpha1.OperatingSystemConfigSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: osType},
			Purpose:     extensionsv1alpha1.OperatingSystemConfigPurposeProvision,
			Units: []extensionsv1alpha1.Unit{{
				Name: "hello.service", Command: ptr.To(extensionsv1alpha1.CommandStart),
				Content: ptr.To("[Service]\nExecStart=/bin/echo hello\n[Install]\nWantedBy=multi-user.target\n"),
			}},
			Files: []extensionsv1alpha1.File{{
				Path:    "/etc/hello",
				Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: "hello\n"}},
			}},
		},
	}
}

// checkUserData validates user data with the real validators and checks
// that every file the plan should contain is in it with its exact bytes.
func checkUserData(t *testing.T, format v1alpha1.Format, data []byte, wantFiles map[string][]byte) {
	t.Helper()
	got := decodeFiles(t, format, data)
	for path, want := range wantFiles {
		if !bytes.Equal(got[path].Data, want) {
			t.Errorf("file %s: got %q, want %q", path, got[path].Data, want)
		}
	}
}

// decodeFiles validates user data with the real validators and decodes its
// files as the machine would write them.
func decodeFiles(t *testing.T, format v1alpha1.Format, data []byte) map[string]userdatatest.File {
	t.Helper()
	switch format {
	case v1alpha1.FormatIgnition:
		userdatatest.Ignition(t, data)
		return userdatatest.IgnitionFiles(t, data)
	case v1alpha1.FormatCloudInit:
		userdatatest.CloudInit(t, data)
		return userdatatest.CloudInitFiles(t, data)
	}
	t.Fatalf("unknown format %q", format)
	return nil
}

// unitStates reads what user data does with each unit at provisioning.
func unitStates(t *testing.T, format v1alpha1.Format, data []byte) map[string]userdatatest.UnitState {
	t.Helper()
	if format == v1alpha1.FormatIgnition {
		return userdatatest.IgnitionUnitStates(t, data)
	}
	return userdatatest.CloudInitUnitStates(t, data)
}

// oscFiles resolves the expected bytes of an OSC's files by hand.
func oscFiles(t *testing.T, osc *extensionsv1alpha1.OperatingSystemConfig) map[string][]byte {
	t.Helper()
	secrets := map[string]*corev1.Secret{}
	for _, s := range testosc.Secrets() {
		secrets[s.Name] = s
	}
	out := map[string][]byte{}
	for _, f := range osc.Spec.Files {
		switch {
		case f.HostName != nil:
		case f.Content.SecretRef != nil:
			out[f.Path] = secrets[f.Content.SecretRef.Name].Data[f.Content.SecretRef.DataKey]
		case f.Content.Inline.Encoding == "b64":
			b, err := base64.StdEncoding.DecodeString(f.Content.Inline.Data)
			if err != nil {
				t.Fatal(err)
			}
			out[f.Path] = b
		default:
			out[f.Path] = []byte(f.Content.Inline.Data)
		}
	}
	return out
}

func TestTranslateProvision(t *testing.T) {
	withFormat := func(osc *extensionsv1alpha1.OperatingSystemConfig, f v1alpha1.Format) *extensionsv1alpha1.OperatingSystemConfig {
		osc.Spec.ProviderConfig = &runtime.RawExtension{Raw: []byte(`{"apiVersion":"os.metalkube.io/v1alpha1","kind":"OperatingSystemConfiguration","format":"` + string(f) + `"}`)}
		return osc
	}
	cases := []struct {
		name   string
		osc    *extensionsv1alpha1.OperatingSystemConfig
		format v1alpha1.Format
		golden string
	}{
		{"realistic flatcar is ignition", testosc.Realistic("worker-a", "flatcar"), v1alpha1.FormatIgnition, "realistic-flatcar.ign.json"},
		{"realistic gardenlinux is ignition", testosc.Realistic("worker-a", "gardenlinux"), v1alpha1.FormatIgnition, "realistic-gardenlinux.ign.json"},
		{"realistic ubuntu is cloud-init", testosc.Realistic("worker-a", "ubuntu"), v1alpha1.FormatCloudInit, "realistic-ubuntu.cloud-config.yaml"},
		{"realistic debian is cloud-init", testosc.Realistic("worker-a", "debian"), v1alpha1.FormatCloudInit, "realistic-debian.cloud-config.yaml"},
		{"minimal flatcar", minimal("flatcar"), v1alpha1.FormatIgnition, "minimal-flatcar.ign.json"},
		{"minimal ubuntu", minimal("ubuntu"), v1alpha1.FormatCloudInit, "minimal-ubuntu.cloud-config.yaml"},
		{"unknown type defaults to cloud-init", minimal("suse-chost"), v1alpha1.FormatCloudInit, "minimal-suse-chost.cloud-config.yaml"},
		{"providerConfig chooses ignition", withFormat(minimal("ubuntu"), v1alpha1.FormatIgnition), v1alpha1.FormatIgnition, "minimal-ubuntu.ign.json"},
		{"providerConfig chooses cloud-init", withFormat(minimal("flatcar"), v1alpha1.FormatCloudInit), v1alpha1.FormatCloudInit, "minimal-flatcar.cloud-config.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTranslator()
			res, err := tr.Translate(context.Background(), tc.osc)
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != tc.format {
				t.Fatalf("format %q, want %q", res.Format, tc.format)
			}
			if res.ExtensionUnits != nil || res.ExtensionFiles != nil {
				t.Errorf("provision returned extension units/files: %v %v", res.ExtensionUnits, res.ExtensionFiles)
			}
			checkUserData(t, tc.format, res.UserData, oscFiles(t, tc.osc))

			again, err := tr.Translate(context.Background(), tc.osc)
			if err != nil || !bytes.Equal(again.UserData, res.UserData) {
				t.Fatalf("second translation differs (err %v)", err)
			}
			golden := res.UserData
			if tc.format == v1alpha1.FormatIgnition {
				var b bytes.Buffer
				if err := json.Indent(&b, res.UserData, "", "  "); err != nil {
					t.Fatal(err)
				}
				b.WriteByte('\n')
				golden = b.Bytes()
			}
			userdatatest.Golden(t, tc.golden, golden)
		})
	}
}

func TestRealisticExtras(t *testing.T) {
	for _, format := range v1alpha1.Formats() {
		t.Run(string(format), func(t *testing.T) {
			osType := map[v1alpha1.Format]string{v1alpha1.FormatIgnition: "flatcar", v1alpha1.FormatCloudInit: "ubuntu"}[format]
			res, err := newTranslator().Translate(context.Background(), testosc.Realistic("worker-a", osType))
			if err != nil {
				t.Fatal(err)
			}
			checkUserData(t, format, res.UserData, map[string][]byte{
				operatingsystemconfig.DNSConfigPath: []byte("[Resolve]\nDNS=10.250.0.10 2001:db8::53\nDomains=~.\n"),
				operatingsystemconfig.NTPConfigPath: []byte("[Time]\nNTP=ntp1.example.org 10.250.0.123\n"),
				"/etc/containerd/certs.d/docker.io/hosts.toml": []byte(`# written by metalkube
server = "https://registry-1.docker.io"

[host."https://mirror.example.org"]
  capabilities = ["pull", "resolve"]
  ca = ["/etc/ssl/certs/mirror-ca.pem"]

[host."http://10.250.0.20:5000"]
  capabilities = ["pull"]
`),
				"/etc/containerd/certs.d/registry.k8s.io/hosts.toml": []byte(`# written by metalkube
server = "https://registry.k8s.io"

[host."https://k8s-mirror.example.org"]
  capabilities = ["pull", "resolve"]
  ca = ["/etc/ssl/certs/k8s-mirror.pem"]
`),
			})
			ud := string(res.UserData)
			// The machine-controller-manager replaces these placeholders in
			// the user data: they must be visible, the way it searches them.
			for _, p := range []string{"<<BOOTSTRAP_TOKEN>>", "<<MACHINE_NAME>>"} {
				want := p
				if format == v1alpha1.FormatIgnition {
					want = url.QueryEscape(p)
				}
				if !strings.Contains(ud, want) {
					t.Errorf("user data lacks placeholder %s as %s", p, want)
				}
			}
			if strings.Contains(ud, "only for machine-0") {
				t.Errorf("host-specific file rendered into shared user data")
			}
		})
	}
}

func TestOnePathPerHost(t *testing.T) {
	osc := testosc.Realistic("worker-a", "ubuntu")
	osc.Spec.Files = append(osc.Spec.Files, extensionsv1alpha1.File{
		Path: "/etc/hostname-specific.conf", HostName: ptr.To("machine-1"),
		Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: "only for machine-1\n"}},
	})
	if _, err := newTranslator().Translate(context.Background(), osc); err != nil {
		t.Fatal(err)
	}
}

func TestContainerdConfig(t *testing.T) {
	osc := testosc.Realistic("worker-a", "ubuntu")
	osc.Spec.ProviderConfig = nil
	osc.Spec.Units, osc.Spec.Files = nil, nil
	res, err := newTranslator().Translate(context.Background(), osc)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RunCmd [][]string `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal(res.UserData, &doc); err != nil {
		t.Fatal(err)
	}
	config := string(decodeFiles(t, v1alpha1.FormatCloudInit, res.UserData)[operatingsystemconfig.ContainerdConfigPath].Data)
	// Parse it back as TOML and check the keys containerd and
	// gardener-node-agent read.
	var cfg map[string]any
	if err := tomlUnmarshal([]byte(config), &cfg); err != nil {
		t.Fatalf("containerd config is not TOML: %v\n%s", err, config)
	}
	get := func(path ...string) any {
		var v any = cfg
		for _, k := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		}
		return v
	}
	cri := []string{"plugins", "io.containerd.grpc.v1.cri"}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"version"}, int64(2)},
		{append(cri, "sandbox_image"), "registry.k8s.io/pause:3.10"},
		{append(cri, "registry", "config_path"), "/etc/containerd/certs.d"},
		{append(cri, "containerd", "runtimes", "runc", "options", "SystemdCgroup"), true},
		{append(cri, "containerd", "runtimes", "gvisor", "runtime_type"), "io.containerd.runsc.v1"},
		{append(cri, "max_concurrent_downloads"), int64(5)},
		{append(cri, "cni"), nil},
	} {
		if got := get(c.path...); got != c.want {
			t.Errorf("%s = %#v, want %#v", strings.Join(c.path, "."), got, c.want)
		}
	}
	if want := []string{"systemctl", "restart", "--no-block", "containerd.service"}; !containsCmd(doc.RunCmd, want) {
		t.Errorf("runcmd %v lacks %v", doc.RunCmd, want)
	}
}

func containsCmd(cmds [][]string, want []string) bool {
	for _, c := range cmds {
		if strings.Join(c, " ") == strings.Join(want, " ") {
			return true
		}
	}
	return false
}

func TestTranslateReconcile(t *testing.T) {
	osc := testosc.Realistic("worker-a", "flatcar")
	osc.Spec.Purpose = extensionsv1alpha1.OperatingSystemConfigPurposeReconcile
	// Files from images are gardener-node-agent's business: fine here.
	osc.Spec.Files = append(osc.Spec.Files, extensionsv1alpha1.File{
		Path:    "/opt/bin/kubelet",
		Content: extensionsv1alpha1.FileContent{ImageRef: &extensionsv1alpha1.FileContentImageRef{Image: "registry.k8s.io/hyperkube:v1.36.4", FilePathInImage: "/kubelet"}},
	})
	res, err := newTranslator().Translate(context.Background(), osc)
	if err != nil {
		t.Fatal(err)
	}
	if res.UserData != nil {
		t.Errorf("reconcile purpose rendered user data")
	}
	t.Run("the OSC's own file wins", func(t *testing.T) {
		own := osc.DeepCopy()
		own.Spec.Files = append(own.Spec.Files, extensionsv1alpha1.File{Path: operatingsystemconfig.NTPConfigPath,
			Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: "[Time]\nNTP=own.example.org\n"}}})
		res, err := newTranslator().Translate(context.Background(), own)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range res.ExtensionFiles {
			if f.Path == operatingsystemconfig.NTPConfigPath {
				t.Errorf("extension file %s shadows the OSC's own", f.Path)
			}
		}
	})
	out, err := sigsyaml.Marshal(map[string]any{"extensionUnits": res.ExtensionUnits, "extensionFiles": res.ExtensionFiles})
	if err != nil {
		t.Fatal(err)
	}
	userdatatest.Golden(t, "reconcile-extensions.yaml", out)
	for _, f := range res.ExtensionFiles {
		if f.Path == operatingsystemconfig.ContainerdConfigPath || strings.Contains(f.Path, "registry.k8s.io") {
			t.Errorf("reconcile extension file %s is gardener-node-agent's to write", f.Path)
		}
	}
}

func TestTranslateErrors(t *testing.T) {
	type mutate func(*extensionsv1alpha1.OperatingSystemConfig)
	file := func(path string, c extensionsv1alpha1.FileContent) mutate {
		return func(o *extensionsv1alpha1.OperatingSystemConfig) {
			o.Spec.Files = append(o.Spec.Files, extensionsv1alpha1.File{Path: path, Content: c})
		}
	}
	unit := func(u extensionsv1alpha1.Unit) mutate {
		return func(o *extensionsv1alpha1.OperatingSystemConfig) { o.Spec.Units = append(o.Spec.Units, u) }
	}
	inline := func(enc, data string) extensionsv1alpha1.FileContent {
		return extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Encoding: enc, Data: data}}
	}
	cases := []struct {
		name   string
		mutate mutate
		want   []string
	}{
		{"unknown encoding", file("/etc/x", inline("gzip", "abc")), []string{`file "/etc/x"`, `unknown encoding "gzip"`}},
		{"invalid base64", file("/etc/x", inline("b64", "!!!")), []string{`file "/etc/x"`, "not valid base64"}},
		{"missing secret", file("/etc/x", extensionsv1alpha1.FileContent{SecretRef: &extensionsv1alpha1.FileContentSecretRef{Name: "nope", DataKey: "k"}}),
			[]string{`file "/etc/x"`, "secret " + testosc.Namespace + "/nope not found"}},
		{"missing secret key", file("/etc/x", extensionsv1alpha1.FileContent{SecretRef: &extensionsv1alpha1.FileContentSecretRef{Name: "node-agent-config", DataKey: "nope"}}),
			[]string{`file "/etc/x"`, `has no key "nope"`}},
		{"two files on one path", file("/etc/motd", inline("", "again")), []string{`file "/etc/motd" is defined twice`}},
		{"two files on one path for one host", func(o *extensionsv1alpha1.OperatingSystemConfig) {
			o.Spec.Files = append(o.Spec.Files, extensionsv1alpha1.File{Path: "/etc/hostname-specific.conf", HostName: ptr.To("machine-0"), Content: inline("", "x")})
		}, []string{`file "/etc/hostname-specific.conf" is defined twice for host "machine-0"`}},
		{"file without path", file("", inline("", "x")), []string{"file #10 has no path"}},
		{"relative path", file("etc/x", inline("", "x")), []string{`file "etc/x": path must be an absolute, clean file path`}},
		{"unclean path", file("/etc/../x", inline("", "x")), []string{`file "/etc/../x": path must be an absolute, clean file path`}},
		{"root path", file("/", inline("", "x")), []string{`file "/": path must be an absolute, clean file path`}},
		{"no content source", file("/etc/x", extensionsv1alpha1.FileContent{}), []string{`file "/etc/x"`, "exactly one of inline, secretRef or imageRef"}},
		{"image content at provisioning", file("/opt/bin/kubelet", extensionsv1alpha1.FileContent{ImageRef: &extensionsv1alpha1.FileContentImageRef{Image: "hyperkube", FilePathInImage: "/kubelet"}}),
			[]string{`file "/opt/bin/kubelet"`, "gardener-node-agent"}},
		{"file on a unit's path", file("/etc/systemd/system/kubelet-monitor.service", inline("", "x")), []string{`file "/etc/systemd/system/kubelet-monitor.service"`, `unit "kubelet-monitor.service"`}},
		{"setuid bit with ignition", func(o *extensionsv1alpha1.OperatingSystemConfig) {
			o.Spec.Files = append(o.Spec.Files, extensionsv1alpha1.File{Path: "/opt/bin/suid", Permissions: ptr.To[uint32](0o4755), Content: inline("", "x")})
		}, []string{`file "/opt/bin/suid"`, "setuid"}},
		{"unit without name", unit(extensionsv1alpha1.Unit{Content: ptr.To("[Service]\nExecStart=/bin/true\n")}), []string{"unit #9 has no name"}},
		{"unit defined twice", unit(extensionsv1alpha1.Unit{Name: "kubelet-monitor.timer"}), []string{`unit "kubelet-monitor.timer" is defined twice`}},
		{"unit name without type", unit(extensionsv1alpha1.Unit{Name: "kubelet"}), []string{`unit "kubelet"`, "systemd unit name"}},
		{"reserved unit name", unit(extensionsv1alpha1.Unit{Name: "metalkube-start-units.service"}), []string{`unit "metalkube-start-units.service"`, "reserved"}},
		{"unknown command", unit(extensionsv1alpha1.Unit{Name: "a.service", Command: ptr.To(extensionsv1alpha1.UnitCommand("reload"))}), []string{`unit "a.service"`, `unknown command "reload"`}},
		{"unparsable unit", unit(extensionsv1alpha1.Unit{Name: "a.service", Content: ptr.To("[Service\nExecStart=/bin/true\n")}), []string{`unit "a.service": content`}},
		{"drop-in without .conf", unit(extensionsv1alpha1.Unit{Name: "a.service", DropIns: []extensionsv1alpha1.DropIn{{Name: "override", Content: "[Service]\n"}}}),
			[]string{`unit "a.service": drop-in "override"`, ".conf"}},
		{"drop-in without name", unit(extensionsv1alpha1.Unit{Name: "a.service", DropIns: []extensionsv1alpha1.DropIn{{Content: "[Service]\n"}}}),
			[]string{`unit "a.service": drop-in #0 has no name`}},
		{"unknown purpose", func(o *extensionsv1alpha1.OperatingSystemConfig) { o.Spec.Purpose = "install" }, []string{`unknown purpose "install"`}},
		{"unknown providerConfig field", func(o *extensionsv1alpha1.OperatingSystemConfig) {
			o.Spec.ProviderConfig.Raw = []byte(`{"apiVersion":"os.metalkube.io/v1alpha1","kind":"OperatingSystemConfiguration","dns":["1.1.1.1"]}`)
		}, []string{"providerConfig", `unknown field "dns"`}},
		{"invalid providerConfig", func(o *extensionsv1alpha1.OperatingSystemConfig) {
			o.Spec.ProviderConfig.Raw = []byte(`{"apiVersion":"os.metalkube.io/v1alpha1","kind":"OperatingSystemConfiguration","format":"kickstart","dnsServers":["dns.example.org"]}`)
		}, []string{"spec.providerConfig.format", `"kickstart"`, "spec.providerConfig.dnsServers[0]"}},
		{"every problem at once", func(o *extensionsv1alpha1.OperatingSystemConfig) {
			file("/etc/x", inline("gzip", ""))(o)
			unit(extensionsv1alpha1.Unit{})(o)
		}, []string{`file "/etc/x"`, "unit #9 has no name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			osc := testosc.Realistic("worker-a", "flatcar")
			tc.mutate(osc)
			res, err := newTranslator().Translate(context.Background(), osc)
			if err == nil {
				t.Fatalf("no error; user data %d bytes", len(res.UserData))
			}
			if res != nil {
				t.Errorf("a result came with the error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			codes := v1beta1helper.ExtractErrorCodes(err)
			configProblem := slices.Contains(codes, gardencorev1beta1.ErrorConfigurationProblem)
			if wantCode := tc.name != "missing secret"; configProblem != wantCode {
				t.Errorf("error codes %v: configuration problem %v, want %v", codes, configProblem, wantCode)
			}
		})
	}
}
