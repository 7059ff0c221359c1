package userdatatest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	ignition "github.com/coreos/ignition/v2/config/v3_5"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

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
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", path, diff(want, got))
	}
}

// diff shows the first differing line.
func diff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + itoa(i+1) + ":\n- " + string(w) + "\n+ " + string(g)
		}
	}
	return "(no line differs)"
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
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
