package operatingsystemconfig_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
	"github.com/metalkube/metalkube/components/os/controller/operatingsystemconfig"
	"github.com/metalkube/metalkube/components/os/internal/testosc"
	"github.com/metalkube/metalkube/components/os/internal/userdatatest"
	"github.com/metalkube/metalkube/components/os/render"
)

// gardenerOSTypes are the OS types the golden tests render gardenlet's OSCs
// for: those metalkube handles by default, and SUSE's (another containerd
// path).
var gardenerOSTypes = []string{"flatcar", "gardenlinux", "ubuntu", "debian", "suse-chost"}

func withFormat(osc *extensionsv1alpha1.OperatingSystemConfig, f v1alpha1.Format) *extensionsv1alpha1.OperatingSystemConfig {
	osc.Spec.ProviderConfig = &runtime.RawExtension{Raw: []byte(`{"apiVersion":"os.metalkube.io/v1alpha1","kind":"OperatingSystemConfiguration","format":"` + string(f) + `"}`)}
	return osc
}

func goldenExt(f v1alpha1.Format) string {
	if f == v1alpha1.FormatIgnition {
		return ".ign.json"
	}
	return ".cloud-config.yaml"
}

// TestGardenerProvision renders the provision OSC gardenlet's own code builds
// (gardener-node-init, the gardener-node-agent files, and with SSH access
// gardener-user and sshd-ensurer) for each OS type into both formats, and
// checks the output against the validators, the OSC's bytes and modes, the
// unit start list gardener-node-agent would give, and golden files (user
// data and start list).
func TestGardenerProvision(t *testing.T) {
	for _, osType := range gardenerOSTypes {
		for _, format := range v1alpha1.Formats() {
			name := "gardener-" + osType
			t.Run(osType+" "+string(format), func(t *testing.T) {
				t.Parallel()
				osc, err := testosc.GardenerProvision(name, osType, true)
				if err != nil {
					t.Fatal(err)
				}
				osc = withFormat(osc, format)
				res, err := newTranslator().Translate(context.Background(), osc)
				if err != nil {
					t.Fatal(err)
				}
				files := decodeFiles(t, format, res.UserData)

				// Every file of the OSC with its exact bytes and mode (0600,
				// gardener-node-agent's default, where the OSC has none).
				for path, want := range oscFiles(t, osc) {
					if got, ok := files[path]; !ok || !bytes.Equal(got.Data, want) {
						t.Errorf("file %s: got %q, want %q", path, got.Data, want)
					}
				}
				for _, f := range osc.Spec.Files {
					if want := ptr.Deref(f.Permissions, 0o600); files[f.Path].Mode != want {
						t.Errorf("file %s: mode %04o, want %04o", f.Path, files[f.Path].Mode, want)
					}
				}

				// The per-OS part every Gardener OS extension adds: containerd
				// pointed at the config gardener-node-agent patches.
				dropIn := files[render.DropInPath("containerd.service", operatingsystemconfig.ContainerdExecDropIn)]
				if !strings.Contains(string(dropIn.Data), "\nExecStart=\nExecStart=") ||
					!strings.Contains(string(dropIn.Data), " --config="+operatingsystemconfig.ContainerdConfigPath+"\n") {
					t.Errorf("containerd drop-in %s does not set ExecStart to read %s:\n%s", operatingsystemconfig.ContainerdExecDropIn, operatingsystemconfig.ContainerdConfigPath, dropIn.Data)
				}
				if _, ok := files[operatingsystemconfig.ContainerdConfigPath]; !ok {
					t.Errorf("no %s", operatingsystemconfig.ContainerdConfigPath)
				}

				// The start list: every unit of the OSC ends as
				// gardener-node-agent would leave it, in both formats.
				states := unitStates(t, format, res.UserData)
				for _, u := range osc.Spec.Units {
					want := userdatatest.NodeAgentState(u.Enable, string(ptr.Deref(u.Command, "")))
					if got := states[u.Name]; got.Run != want.Run || got.Enabled != "" && got.Enabled != want.Enabled {
						t.Errorf("unit %s: %v, gardener-node-agent: %v", u.Name, got, want)
					}
				}
				for _, u := range []string{"gardener-node-init.service", "gardener-user.service", "gardener-user.path", "containerd.service"} {
					if states[u].Run != "started" {
						t.Errorf("unit %s is not started (%v)", u, states[u])
					}
				}

				userdatatest.Golden(t, name+goldenExt(format), goldenUserData(t, format, res.UserData))
				userdatatest.Golden(t, name+"."+string(format)+".units.txt", []byte(userdatatest.FormatUnitStates(states)))
			})
		}
	}
}

// TestGardenerProvisionSameStartList checks that one OSC starts and stops the
// same units whichever format it is rendered in.
func TestGardenerProvisionSameStartList(t *testing.T) {
	for _, osType := range gardenerOSTypes {
		t.Run(osType, func(t *testing.T) {
			run := map[v1alpha1.Format]map[string]string{}
			for _, format := range v1alpha1.Formats() {
				osc, err := testosc.GardenerProvision("gardener-"+osType, osType, true)
				if err != nil {
					t.Fatal(err)
				}
				res, err := newTranslator().Translate(context.Background(), withFormat(osc, format))
				if err != nil {
					t.Fatal(err)
				}
				run[format] = map[string]string{}
				for name, s := range unitStates(t, format, res.UserData) {
					run[format][name] = s.Run
				}
			}
			if ign, ci := run[v1alpha1.FormatIgnition], run[v1alpha1.FormatCloudInit]; !maps.Equal(ign, ci) {
				t.Errorf("start lists differ:\nignition:   %v\ncloud-init: %v", ign, ci)
			}
		})
	}
}

// TestGardenerReconcile translates the reconcile OSC gardenlet's own code
// builds: the extension units and files gardener-node-agent applies with it.
func TestGardenerReconcile(t *testing.T) {
	for _, osType := range gardenerOSTypes {
		t.Run(osType, func(t *testing.T) {
			t.Parallel()
			osc, err := testosc.GardenerReconcile("gardener-"+osType+"-reconcile", osType, true)
			if err != nil {
				t.Fatal(err)
			}
			res, err := newTranslator().Translate(context.Background(), osc)
			if err != nil {
				t.Fatal(err)
			}
			if res.UserData != nil {
				t.Errorf("reconcile purpose rendered user data")
			}
			// gardener-node-agent removes the drop-ins of a unit the OSC does
			// not list: the containerd drop-in must be sent again.
			i := slices.IndexFunc(res.ExtensionUnits, func(u extensionsv1alpha1.Unit) bool { return u.Name == "containerd.service" })
			if i < 0 || !slices.ContainsFunc(res.ExtensionUnits[i].DropIns, func(d extensionsv1alpha1.DropIn) bool {
				return d.Name == operatingsystemconfig.ContainerdExecDropIn
			}) {
				t.Fatalf("extension units %v lack containerd.service with %s", res.ExtensionUnits, operatingsystemconfig.ContainerdExecDropIn)
			}
			out, err := json.MarshalIndent(map[string]any{"extensionUnits": res.ExtensionUnits, "extensionFiles": res.ExtensionFiles}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			userdatatest.Golden(t, "gardener-"+osType+"-reconcile-extensions.json", append(out, '\n'))
		})
	}
}

func goldenUserData(t *testing.T, format v1alpha1.Format, data []byte) []byte {
	t.Helper()
	if format != v1alpha1.FormatIgnition {
		return data
	}
	var b bytes.Buffer
	if err := json.Indent(&b, data, "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}
