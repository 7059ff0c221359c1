package userdatatest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ignition "github.com/coreos/ignition/v2/config/v3_5"
	"github.com/vincent-petithory/dataurl"
	"go.yaml.in/yaml/v3"

	"github.com/metalkube/metalkube/components/os/render"
	"github.com/metalkube/metalkube/shared/testkit"
)

// Ignition parses data with Ignition's spec 3.5 parser and fails the test on
// any error, warning or other report entry.
func Ignition(t testing.TB, data []byte) {
	t.Helper()
	_, rpt, err := ignition.Parse(data)
	if err != nil {
		t.Fatalf("ignition parse: %v\n%s", err, rpt.String())
	}
	if len(rpt.Entries) > 0 {
		t.Fatalf("ignition parse reported:\n%s", rpt.String())
	}
}

// CloudInitAvailable reports whether the cloud-init binary is installed.
func CloudInitAvailable() bool {
	_, err := exec.LookPath("cloud-init")
	return err == nil
}

// CloudInit validates data with `cloud-init schema --config-file`; without
// the cloud-init binary it only checks the #cloud-config header and logs
// that the schema check was skipped.
func CloudInit(t testing.TB, data []byte) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("#cloud-config\n")) {
		t.Fatalf("cloud-config does not start with #cloud-config:\n%s", data)
	}
	if !CloudInitAvailable() {
		t.Logf("cloud-init not installed (Debian package cloud-init): schema check skipped")
		return
	}
	f := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cloud-init", "schema", "--config-file", f).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Valid cloud-config")) {
		t.Fatalf("cloud-init schema: %v\n%s\n--- user data:\n%s", err, out, data)
	}
}

// Golden compares got with testdata/<name>, or writes it with -update.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got)
}

// pyYAMLScript prints the write_files of a cloud-config read by PyYAML — the
// YAML 1.1 reader cloud-init itself uses — as JSON.
const pyYAMLScript = `import json, sys, yaml
doc = yaml.safe_load(sys.stdin.buffer.read())
json.dump([{"path": f["path"], "content": f.get("content", ""), "encoding": f.get("encoding", "")} for f in doc.get("write_files", [])], sys.stdout)
`

// PyYAMLFile is a write_files entry as PyYAML reads it.
type PyYAMLFile struct{ Path, Content, Encoding string }

// PyYAMLWriteFiles reads the write_files of a cloud-config with PyYAML; ok is
// false (and the test logs why) when python3 with PyYAML is not installed
// (Debian package python3-yaml, a dependency of cloud-init).
func PyYAMLWriteFiles(t testing.TB, data []byte) (files []PyYAMLFile, ok bool) {
	t.Helper()
	if exec.Command("python3", "-c", "import yaml").Run() != nil {
		t.Logf("python3 with PyYAML not installed (Debian package python3-yaml): YAML 1.1 read-back skipped")
		return nil, false
	}
	cmd := exec.Command("python3", "-c", pyYAMLScript)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("PyYAML: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(out, &files); err != nil {
		t.Fatalf("PyYAML output: %v", err)
	}
	return files, true
}

// File is a file as a machine would write it from user data.
type File struct {
	Data []byte
	Mode uint32
	// Encoding is how the user data carries it: "plain", "base64" or "gzip".
	Encoding string
}

// IgnitionFiles decodes the files of an Ignition config the way Ignition
// does — data URL, then gzip when the compression field asks for it — and
// adds the unit files and drop-ins Ignition writes.
func IgnitionFiles(t testing.TB, data []byte) map[string]File {
	t.Helper()
	cfg, _, err := ignition.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]File{}
	for _, f := range cfg.Storage.Files {
		du, err := dataurl.DecodeString(*f.Contents.Source)
		if err != nil {
			t.Fatalf("file %s: data URL: %v", f.Path, err)
		}
		file := File{Data: du.Data, Encoding: "plain"}
		if du.Encoding == dataurl.EncodingBase64 {
			file.Encoding = "base64"
		}
		if f.Contents.Compression != nil && *f.Contents.Compression == "gzip" {
			file.Data, file.Encoding = gunzip(t, f.Path, du.Data), "gzip"
		}
		if f.Mode != nil {
			file.Mode = uint32(*f.Mode)
		}
		out[f.Path] = file
	}
	// Ignition writes unit files and drop-ins itself, mode 0644.
	for _, u := range cfg.Systemd.Units {
		if u.Contents != nil {
			out[render.UnitPath(u.Name)] = File{Data: []byte(*u.Contents), Mode: 0o644, Encoding: "plain"}
		}
		for _, d := range u.Dropins {
			if d.Contents != nil {
				out[render.DropInPath(u.Name, d.Name)] = File{Data: []byte(*d.Contents), Mode: 0o644, Encoding: "plain"}
			}
		}
	}
	return out
}

// CloudInitFiles decodes the write_files of a cloud-config the way
// cloud-init does (text, b64 or gz+b64).
func CloudInitFiles(t testing.TB, data []byte) map[string]File {
	t.Helper()
	var doc struct {
		WriteFiles []struct{ Path, Content, Encoding, Permissions string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]File{}
	for _, f := range doc.WriteFiles {
		file := File{Data: []byte(f.Content), Encoding: "plain"}
		switch f.Encoding {
		case "":
		case "b64", "gz+b64":
			b, err := base64.StdEncoding.DecodeString(f.Content)
			if err != nil {
				t.Fatalf("file %s: %v", f.Path, err)
			}
			file.Data, file.Encoding = b, "base64"
			if f.Encoding == "gz+b64" {
				file.Data, file.Encoding = gunzip(t, f.Path, b), "gzip"
			}
		default:
			t.Fatalf("file %s: unexpected encoding %q", f.Path, f.Encoding)
		}
		var mode uint32
		for _, c := range f.Permissions {
			mode = mode*8 + uint32(c-'0')
		}
		file.Mode = mode
		out[f.Path] = file
	}
	return out
}

func gunzip(t testing.TB, path string, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("file %s: gzip: %v", path, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("file %s: gzip: %v", path, err)
	}
	return out
}

// UnitState is what becomes of a unit at provisioning.
type UnitState struct {
	// Enabled is "enabled", "disabled" or "" (left as it is).
	Enabled string
	// Run is "started" or "stopped".
	Run string
}

func (s UnitState) String() string {
	if s.Enabled == "" {
		return s.Run
	}
	return s.Enabled + ", " + s.Run
}

// NodeAgentState is what gardener-node-agent does with a unit of the OSC
// (pkg/nodeagent/controller/operatingsystemconfig): enable it unless enable
// is false, then stop it when enable is false or its command is stop, and
// restart it in every other case.
func NodeAgentState(enable *bool, command string) UnitState {
	s := UnitState{Enabled: "enabled", Run: "started"}
	if enable != nil && !*enable {
		s.Enabled = "disabled"
	}
	if s.Enabled == "disabled" || command == "stop" {
		s.Run = "stopped"
	}
	return s
}

// IgnitionUnitStates reads what the Ignition config does with each unit: its
// enabled field, and whether it runs — started with the boot (enabled with an
// [Install] section) or by render.StartUnit, or stopped by it.
func IgnitionUnitStates(t testing.TB, data []byte) map[string]UnitState {
	t.Helper()
	cfg, _, err := ignition.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var start, stop []string
	for _, u := range cfg.Systemd.Units {
		if u.Name != render.StartUnit {
			continue
		}
		for line := range strings.Lines(*u.Contents) {
			// "ExecStart=-" ignores the command's failure; both read the same.
			line = strings.Replace(strings.TrimSpace(line), "ExecStart=/", "ExecStart=-/", 1)
			if rest, ok := strings.CutPrefix(line, "ExecStart=-/usr/bin/systemctl start --no-block "); ok {
				start = append(start, strings.Fields(strings.ReplaceAll(rest, `\\`, `\`))...)
			}
			if rest, ok := strings.CutPrefix(line, "ExecStart=-/usr/bin/systemctl stop --no-block "); ok {
				stop = append(stop, strings.Fields(strings.ReplaceAll(rest, `\\`, `\`))...)
			}
		}
	}
	out := map[string]UnitState{}
	for _, u := range cfg.Systemd.Units {
		if u.Name == render.StartUnit {
			continue
		}
		var s UnitState
		if u.Enabled != nil {
			s.Enabled = map[bool]string{true: "enabled", false: "disabled"}[*u.Enabled]
		}
		bootStarted := u.Enabled != nil && *u.Enabled && u.Contents != nil && strings.Contains(*u.Contents, "[Install]")
		switch {
		case slices.Contains(stop, u.Name):
			s.Run = "stopped"
		case slices.Contains(start, u.Name) || bootStarted:
			s.Run = "started"
		}
		out[u.Name] = s
	}
	return out
}

// CloudInitUnitStates reads what the cloud-config's runcmd does with each
// unit: systemctl enable/disable, then restart (started) or stop.
func CloudInitUnitStates(t testing.TB, data []byte) map[string]UnitState {
	t.Helper()
	var doc struct {
		RunCmd [][]string `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]UnitState{}
	for _, c := range doc.RunCmd {
		if len(c) < 3 || c[0] != "systemctl" {
			continue
		}
		name := c[len(c)-1]
		s := out[name]
		switch c[1] {
		case "enable":
			s.Enabled = "enabled"
		case "disable":
			s.Enabled = "disabled"
		case "restart", "start":
			s.Run = "started"
		case "stop":
			s.Run = "stopped"
		}
		out[name] = s
	}
	return out
}

// FormatUnitStates lists unit states one a line, sorted by name, for golden
// files and messages.
func FormatUnitStates(states map[string]UnitState) string {
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + ": " + states[n].String() + "\n")
	}
	return b.String()
}
