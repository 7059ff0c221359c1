package operatingsystemconfig_test

// Tests of what a node gets compared with what gardener-node-agent and
// Gardener's OS extensions give it, one per difference found when metalkube's
// user data was tried against gardener v1.150's own OSCs.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	v1beta1helper "github.com/gardener/gardener/pkg/api/core/v1beta1/helper"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
	"github.com/metalkube/metalkube/components/os/controller/operatingsystemconfig"
	"github.com/metalkube/metalkube/components/os/internal/testosc"
	"github.com/metalkube/metalkube/components/os/render"
)

func translate(t *testing.T, osc *extensionsv1alpha1.OperatingSystemConfig) *operatingsystemconfig.Result {
	t.Helper()
	res, err := newTranslator().Translate(context.Background(), osc)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Point 1: enabled units without a command start at provisioning in both
// formats, as gardener-node-agent restarts them; Gardener's own
// gardener-user.service (no [Install], no command) and its .path unit (which
// does not fire for a file that already exists) included.
func TestUnitsWithoutCommandStart(t *testing.T) {
	for _, format := range v1alpha1.Formats() {
		t.Run(string(format), func(t *testing.T) {
			osc, err := testosc.GardenerProvision("ssh", "ubuntu", true)
			if err != nil {
				t.Fatal(err)
			}
			osc.Spec.Units = append(osc.Spec.Units, extensionsv1alpha1.Unit{
				Name:    "no-command.service",
				Content: ptr.To("[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"),
			})
			res := translate(t, withFormat(osc, format))
			states := unitStates(t, format, res.UserData)
			for _, name := range []string{"gardener-user.service", "gardener-user.path", "no-command.service"} {
				if states[name].Run != "started" {
					t.Errorf("%s: %v, want started", name, states[name])
				}
			}
		})
	}
}

// Point 2: containerd reads /etc/containerd/config.toml on every OS type —
// through the ExecStart drop-in every Gardener OS extension writes, with the
// binary where the OS installs it — in the provision OSC gardenlet builds
// (which has no such drop-in) and for gardener-node-agent in the reconcile
// purpose.
func TestContainerdExecDropIn(t *testing.T) {
	cases := map[string]string{
		"flatcar":     "/usr/bin/containerd",
		"gardenlinux": "/usr/bin/containerd",
		"ubuntu":      "/usr/bin/containerd",
		"suse-chost":  "/usr/sbin/containerd",
	}
	for osType, binary := range cases {
		want := "[Service]\nExecStart=\nExecStart=" + binary + " --config=/etc/containerd/config.toml\n"
		for _, format := range v1alpha1.Formats() {
			t.Run(osType+" "+string(format), func(t *testing.T) {
				osc, err := testosc.GardenerProvision("cd", osType, false)
				if err != nil {
					t.Fatal(err)
				}
				files := decodeFiles(t, format, translate(t, withFormat(osc, format)).UserData)
				if got := files[render.DropInPath("containerd.service", "11-exec_config.conf")].Data; string(got) != want {
					t.Errorf("containerd drop-in = %q, want %q", got, want)
				}
			})
		}
		t.Run(osType+" reconcile", func(t *testing.T) {
			osc, err := testosc.GardenerReconcile("cd", osType, false)
			if err != nil {
				t.Fatal(err)
			}
			res := translate(t, osc)
			i := slices.IndexFunc(res.ExtensionUnits, func(u extensionsv1alpha1.Unit) bool { return u.Name == "containerd.service" })
			if i < 0 || !slices.Contains(res.ExtensionUnits[i].DropIns, extensionsv1alpha1.DropIn{Name: "11-exec_config.conf", Content: want}) {
				t.Errorf("extension units %+v lack the containerd drop-in", res.ExtensionUnits)
			}
		})
	}
}

// Point 3: user data over the Secret limit is refused before the Secret is
// written, as a configuration problem that is not retried, naming the
// largest files and the limit.
func TestUserDataOverLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "big", Namespace: testosc.Namespace},
		Data: map[string][]byte{"a": noise(400 << 10), "b": noise(300 << 10), "c": noise(200 << 10), "d": noise(10)}}
	for _, format := range v1alpha1.Formats() {
		t.Run(string(format), func(t *testing.T) {
			osc := withFormat(minimal("ubuntu"), format)
			osc.Namespace = testosc.Namespace
			for _, k := range []string{"d", "c", "a", "b"} {
				osc.Spec.Files = append(osc.Spec.Files, extensionsv1alpha1.File{Path: "/opt/big/" + k,
					Content: extensionsv1alpha1.FileContent{SecretRef: &extensionsv1alpha1.FileContentSecretRef{Name: "big", DataKey: k}}})
			}
			_, err := newTranslator(secret).Translate(context.Background(), osc)
			if err == nil {
				t.Fatal("user data over 1 MiB accepted")
			}
			msg := err.Error()
			for _, want := range []string{`file "/opt/big/a" (409600 bytes), file "/opt/big/b" (307200 bytes), file "/opt/big/c" (204800 bytes)`, "limit of 1048576 bytes"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if codes := v1beta1helper.ExtractErrorCodes(err); !slices.Contains(codes, gardencorev1beta1.ErrorConfigurationProblem) {
				t.Errorf("codes %v, want %s", codes, gardencorev1beta1.ErrorConfigurationProblem)
			}
			if !errors.Is(err, reconcile.TerminalError(nil)) {
				t.Errorf("error is retried by the controller: %v", err)
			}
			if strings.HasPrefix(msg, "terminal error") {
				t.Errorf("error %q starts with controller-runtime's prefix", msg)
			}
		})
	}
}

// Point 3: each file gets the encoding that keeps the user data smallest:
// plain text full of characters a data URL escapes no longer triples in
// Ignition, and compressible content shrinks below its own size.
func TestSmallestEncoding(t *testing.T) {
	symbols := strings.Repeat("  - {key: \"<value>\", other: [1, 2, 3]} # comment | pipe ^ caret\n", 100)
	script := strings.Repeat("echo \"configuring the node\" && systemctl daemon-reload\n", 200)
	cases := []struct {
		name, data string
		// most is the most bytes the file may add to the user data.
		most func(n int) int
	}{
		{"symbols", symbols, func(n int) int { return base64.StdEncoding.EncodedLen(n) }},
		{"compressible script", script, func(n int) int { return n / 4 }},
		{"short", "x=1\n", func(n int) int { return 16 }},
	}
	for _, tc := range cases {
		for _, format := range v1alpha1.Formats() {
			t.Run(tc.name+" "+string(format), func(t *testing.T) {
				base := withFormat(minimal("ubuntu"), format)
				with := base.DeepCopy()
				with.Spec.Files = append(with.Spec.Files, extensionsv1alpha1.File{Path: "/etc/x",
					Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: tc.data}}})
				without := translate(t, base).UserData
				res := translate(t, with)
				added := len(res.UserData) - len(without)
				// The entry itself (path, mode, keys) costs up to 128 bytes.
				if limit := tc.most(len(tc.data)) + 128; added > limit {
					t.Errorf("file of %d bytes adds %d bytes to the user data, want at most %d", len(tc.data), added, limit)
				}
				if got := decodeFiles(t, format, res.UserData)["/etc/x"].Data; !bytes.Equal(got, []byte(tc.data)) {
					t.Errorf("content does not round-trip")
				}
			})
		}
	}
}

// Point 4: the DNS servers answer every name (Domains=~.), ahead of per-link
// servers from DHCP; /etc/resolv.conf stays systemd-resolved's.
func TestDNSRoutingDomain(t *testing.T) {
	for _, format := range v1alpha1.Formats() {
		t.Run(string(format), func(t *testing.T) {
			osType := map[v1alpha1.Format]string{v1alpha1.FormatIgnition: "flatcar", v1alpha1.FormatCloudInit: "ubuntu"}[format]
			files := decodeFiles(t, format, translate(t, testosc.Realistic("dns", osType)).UserData)
			dns := string(files[operatingsystemconfig.DNSConfigPath].Data)
			if !strings.Contains(dns, "\nDomains=~.\n") || !strings.Contains(dns, "\nDNS=10.250.0.10 2001:db8::53\n") {
				t.Errorf("resolved drop-in:\n%s", dns)
			}
			if _, ok := files["/etc/resolv.conf"]; ok {
				t.Errorf("/etc/resolv.conf written")
			}
		})
	}
}

// Point 5: command stop with enable true enables and stops the unit, as
// gardener-node-agent does; files without permissions get its 0600.
func TestStopEnabledAndDefaultMode(t *testing.T) {
	for _, format := range v1alpha1.Formats() {
		t.Run(string(format), func(t *testing.T) {
			osc := withFormat(minimal("ubuntu"), format)
			osc.Spec.Units = append(osc.Spec.Units, extensionsv1alpha1.Unit{
				Name: "stopped.service", Enable: ptr.To(true), Command: ptr.To(extensionsv1alpha1.CommandStop),
				Content: ptr.To("[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"),
			})
			res := translate(t, osc)
			got := unitStates(t, format, res.UserData)["stopped.service"]
			if got.Enabled != "enabled" || got.Run != "stopped" {
				t.Errorf("stopped.service: %v, want enabled, stopped", got)
			}
			if mode := decodeFiles(t, format, res.UserData)["/etc/hello"].Mode; mode != 0o600 {
				t.Errorf("/etc/hello (no permissions): mode %04o, want 0600", mode)
			}
		})
	}
}

// Point 6: in-place updates are refused clearly (no OS update command for
// bare metal); files from images are fine for the reconcile purpose
// (gardener-node-agent pulls them) and refused, named, for provisioning.
func TestInPlaceUpdatesAndImageRef(t *testing.T) {
	reconcileOSC, err := testosc.GardenerReconcile("ipu", "gardenlinux", false)
	if err != nil {
		t.Fatal(err)
	}
	imageFile := extensionsv1alpha1.File{Path: "/opt/bin/tool", Permissions: ptr.To[uint32](0o755),
		Content: extensionsv1alpha1.FileContent{ImageRef: &extensionsv1alpha1.FileContentImageRef{Image: "registry.example.org/tool:v1", FilePathInImage: "/tool"}}}

	t.Run("in-place updates", func(t *testing.T) {
		osc := reconcileOSC.DeepCopy()
		osc.Spec.InPlaceUpdates = &extensionsv1alpha1.InPlaceUpdates{OperatingSystemVersion: "1877.3", KubeletVersion: "1.36.4"}
		_, err := newTranslator().Translate(context.Background(), osc)
		if err == nil || !strings.Contains(err.Error(), "spec.inPlaceUpdates") || !strings.Contains(err.Error(), `"gardenlinux"`) {
			t.Fatalf("error %v, want a refusal naming spec.inPlaceUpdates and the type", err)
		}
		if !slices.Contains(v1beta1helper.ExtractErrorCodes(err), gardencorev1beta1.ErrorConfigurationProblem) || !errors.Is(err, reconcile.TerminalError(nil)) {
			t.Errorf("refusal is not a configuration problem that is not retried: %v", err)
		}
	})
	t.Run("imageRef reconcile", func(t *testing.T) {
		osc := reconcileOSC.DeepCopy()
		osc.Spec.Files = append(osc.Spec.Files, imageFile)
		if _, err := newTranslator().Translate(context.Background(), osc); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("imageRef provision", func(t *testing.T) {
		osc := minimal("ubuntu")
		osc.Spec.Files = append(osc.Spec.Files, imageFile)
		_, err := newTranslator().Translate(context.Background(), osc)
		if err == nil || !strings.Contains(err.Error(), `file "/opt/bin/tool"`) || !strings.Contains(err.Error(), "reconcile purpose") {
			t.Fatalf("error %v, want a refusal naming the file", err)
		}
	})
}
