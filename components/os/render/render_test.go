package render_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	ignition "github.com/coreos/ignition/v2/config/v3_5"
	"github.com/vincent-petithory/dataurl"
	"go.yaml.in/yaml/v3"

	"github.com/metalkube/metalkube/components/os/internal/userdatatest"
	"github.com/metalkube/metalkube/components/os/render"
)

func ptr[T any](v T) *T { return &v }

// tricky contents: YAML and URL special characters, indentation, CRLF,
// non-UTF-8 bytes, empty.
var tricky = map[string][]byte{
	"/etc/t/yaml-like":      []byte("key: value\n- item\n# not a comment\n? question\n"),
	"/etc/t/bool-like":      []byte("yes"),
	"/etc/t/number-like":    []byte("0644"),
	"/etc/t/empty":          {},
	"/etc/t/leading-spaces": []byte("   indented first line\nnext\n"),
	"/etc/t/crlf":           []byte("line one\r\nline two\r\n"),
	"/etc/t/no-newline":     []byte("a\nb"),
	"/etc/t/many-newlines":  []byte("a\n\n\n"),
	"/etc/t/binary":         {0x00, 0xff, 0xfe, 0x80, '\n'},
	"/etc/t/unicode":        []byte("grüße 🌍 %20 %%\t<<TOKEN>>\n"),
	"/etc/t/url-like":       []byte("data:,not-a-url?a=b&c=d#frag+plus"),
	"/etc/t/leading-blank":  []byte("\nafter a blank line\n"),
	"/etc/t/only-newlines":  []byte("\n\n"),
	"/etc/t/space-no-nl":    []byte(" a\n b"),
	"/etc/t/tab-first":      []byte("\tindented with a tab\n"),
	"/etc/t/tab-last":       []byte("ends with a tab\t\nnext\n"),
	"/etc/t/yaml11-breaks":  []byte("nel\u0085ls\u2028ps\u2029\n"),
	"/etc/t/bom":            []byte("\ufeffbom first\nline\n"),
	"/etc/t/doc-markers":    []byte("---\n...\n--- !!str\n"),
	"/etc/t/indicators":     []byte("|\n> folded\n- item\n* alias\n& anchor\n! tag\n% directive\n@ at\n` tick\n"),
	"/etc/t/del":            []byte("del\x7f\n"),
	"/etc/t/emoji-lines":    []byte("🌍\n🚀\n"),
	"/etc/t/quotes":         []byte("\"double\" 'single' \\back\\slash\n"),
	"/etc/t/on":             []byte("on"),
	"/etc/t/null":           []byte("~"),
	"/etc/t/keep-many":      []byte("a\n\n\n\n"),
	"/etc/t/inner-blank":    []byte("a\n\n  b\n\nc\n"),
	"/etc/my file":          []byte("path with a space\n"),
	"/etc/a:b #c":           []byte("path with a colon and a hash\n"),
	"/etc/\"quoted\"":       []byte("path with quotes\n"),
}

func trickyPlan(plain bool) *render.Plan {
	p := &render.Plan{}
	for path, data := range tricky {
		p.Files = append(p.Files, render.File{Path: path, Data: data, Plain: plain})
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	for _, plain := range []bool{true, false} {
		name := map[bool]string{true: "plain", false: "base64"}[plain]
		t.Run("ignition "+name, func(t *testing.T) {
			out, err := render.Ignition(trickyPlan(plain))
			if err != nil {
				t.Fatal(err)
			}
			userdatatest.Ignition(t, out)
			cfg, _, _ := ignition.Parse(out)
			if len(cfg.Storage.Files) != len(tricky) {
				t.Fatalf("%d files, want %d", len(cfg.Storage.Files), len(tricky))
			}
			for _, f := range cfg.Storage.Files {
				du, err := dataurl.DecodeString(*f.Contents.Source)
				if err != nil {
					t.Fatalf("%s: %v", f.Path, err)
				}
				if !bytes.Equal(du.Data, tricky[f.Path]) {
					t.Errorf("%s: got %q, want %q", f.Path, du.Data, tricky[f.Path])
				}
				if *f.Mode != render.DefaultMode || !*f.Overwrite {
					t.Errorf("%s: mode %o overwrite %v", f.Path, *f.Mode, *f.Overwrite)
				}
			}
		})
		t.Run("cloud-init "+name, func(t *testing.T) {
			out, err := render.CloudInit(trickyPlan(plain))
			if err != nil {
				t.Fatal(err)
			}
			userdatatest.CloudInit(t, out)
			var doc struct {
				WriteFiles []struct{ Path, Content, Encoding, Permissions string } `yaml:"write_files"`
			}
			if err := yaml.Unmarshal(out, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.WriteFiles) != len(tricky) {
				t.Fatalf("%d files, want %d", len(doc.WriteFiles), len(tricky))
			}
			for _, f := range doc.WriteFiles {
				got := []byte(f.Content)
				if f.Encoding == "b64" {
					got, _ = base64.StdEncoding.DecodeString(f.Content)
				}
				if !bytes.Equal(got, tricky[f.Path]) {
					t.Errorf("%s: got %q, want %q", f.Path, got, tricky[f.Path])
				}
				if f.Permissions != "0600" {
					t.Errorf("%s: permissions %q", f.Path, f.Permissions)
				}
			}
			// And as cloud-init's own YAML 1.1 reader sees it.
			files, ok := userdatatest.PyYAMLWriteFiles(t, out)
			if !ok {
				return
			}
			if len(files) != len(tricky) {
				t.Fatalf("PyYAML: %d files, want %d", len(files), len(tricky))
			}
			for _, f := range files {
				got := []byte(f.Content)
				if f.Encoding == "b64" {
					got, _ = base64.StdEncoding.DecodeString(f.Content)
				}
				if !bytes.Equal(got, tricky[f.Path]) {
					t.Errorf("PyYAML %s: got %q, want %q", f.Path, got, tricky[f.Path])
				}
			}
		})
	}
}

// TestUnits checks that both formats treat units as gardener-node-agent does
// (userdatatest.NodeAgentState): every unit not disabled and not stopped is
// started, with or without a command and with or without an [Install]
// section; stop with enable keeps the unit enabled.
func TestUnits(t *testing.T) {
	withInstall := "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
	noInstall := "[Service]\nType=oneshot\nExecStart=/bin/true\n"
	cases := []struct {
		name        string
		unit        render.Unit
		wantEnabled *bool  // Ignition's enabled
		wantStarter string // what Ignition's render.StartUnit does with it: "start", "stop" or ""
		wantCmds    []string
	}{
		{"enabled with install section", render.Unit{Name: "a.service", Content: &withInstall, Enable: true, Command: render.CommandStart},
			ptr(true), "", []string{"systemctl enable a.service", "systemctl restart --no-block a.service"}},
		{"enabled with install section, no command", render.Unit{Name: "a.service", Content: &withInstall, Enable: true},
			ptr(true), "", []string{"systemctl enable a.service", "systemctl restart --no-block a.service"}},
		{"enabled without install section, no command", render.Unit{Name: "a.service", Content: &noInstall, Enable: true},
			nil, "start", []string{"systemctl enable a.service", "systemctl restart --no-block a.service"}},
		{"started without install section", render.Unit{Name: "a.service", Content: &noInstall, Enable: true, Command: render.CommandStart},
			nil, "start", []string{"systemctl enable a.service", "systemctl restart --no-block a.service"}},
		{"image unit with drop-in", render.Unit{Name: "a.service", Enable: true, Command: render.CommandRestart, DropIns: []render.DropIn{{Name: "10-x.conf", Content: "[Service]\nNice=5\n"}}},
			ptr(true), "start", []string{"systemctl enable a.service", "systemctl restart --no-block a.service"}},
		{"image unit, no command", render.Unit{Name: "a.service", Enable: true},
			ptr(true), "start", []string{"systemctl enable a.service", "systemctl restart --no-block a.service"}},
		{"disabled", render.Unit{Name: "a.service", Content: &withInstall},
			ptr(false), "stop", []string{"systemctl disable a.service", "systemctl stop --no-block a.service"}},
		{"disabled but asked to start is stopped", render.Unit{Name: "a.service", Content: &noInstall, Command: render.CommandStart},
			ptr(false), "stop", []string{"systemctl disable a.service", "systemctl stop --no-block a.service"}},
		{"stop with enable stays enabled", render.Unit{Name: "a.service", Enable: true, Command: render.CommandStop},
			ptr(true), "stop", []string{"systemctl enable a.service", "systemctl stop --no-block a.service"}},
		{"stop with enable and install section", render.Unit{Name: "a.service", Content: &withInstall, Enable: true, Command: render.CommandStop},
			ptr(true), "stop", []string{"systemctl enable a.service", "systemctl stop --no-block a.service"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plan := &render.Plan{Units: []render.Unit{tc.unit}}
			ign, err := render.Ignition(plan)
			if err != nil {
				t.Fatal(err)
			}
			userdatatest.Ignition(t, ign)
			cfg, _, _ := ignition.Parse(ign)
			got := cfg.Systemd.Units[0]
			if (got.Enabled == nil) != (tc.wantEnabled == nil) || got.Enabled != nil && *got.Enabled != *tc.wantEnabled {
				t.Errorf("ignition enabled = %v, want %v", deref(got.Enabled), deref(tc.wantEnabled))
			}
			if len(got.Dropins) != len(tc.unit.DropIns) {
				t.Errorf("ignition drop-ins %v", got.Dropins)
			}
			var starter string
			for _, u := range cfg.Systemd.Units {
				if u.Name == render.StartUnit {
					starter = *u.Contents
				}
			}
			gotStarter := ""
			for _, verb := range []string{"start", "stop"} {
				if strings.Contains(starter, "ExecStart=-/usr/bin/systemctl "+verb+" --no-block a.service\n") {
					gotStarter = verb
				}
			}
			if gotStarter != tc.wantStarter {
				t.Errorf("%s does %q with a.service, want %q\n%s", render.StartUnit, gotStarter, tc.wantStarter, starter)
			}
			if starter != "" && !strings.Contains(starter, "ConditionPathExists=!"+render.StartedStamp+"\n") {
				t.Errorf("%s runs at every boot, want first boot only:\n%s", render.StartUnit, starter)
			}

			ci, err := render.CloudInit(plan)
			if err != nil {
				t.Fatal(err)
			}
			userdatatest.CloudInit(t, ci)
			var doc struct {
				WriteFiles []struct{ Path string } `yaml:"write_files"`
				RunCmd     [][]string              `yaml:"runcmd"`
			}
			if err := yaml.Unmarshal(ci, &doc); err != nil {
				t.Fatal(err)
			}
			var cmds []string
			for _, c := range doc.RunCmd {
				cmds = append(cmds, strings.Join(c, " "))
			}
			want := append([]string{"systemctl daemon-reload"}, tc.wantCmds...)
			if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
				t.Errorf("runcmd:\n%s\nwant:\n%s", strings.Join(cmds, "\n"), strings.Join(want, "\n"))
			}
			var paths []string
			for _, f := range doc.WriteFiles {
				paths = append(paths, f.Path)
			}
			var wantPaths []string
			if tc.unit.Content != nil {
				wantPaths = append(wantPaths, "/etc/systemd/system/a.service")
			}
			for _, d := range tc.unit.DropIns {
				wantPaths = append(wantPaths, "/etc/systemd/system/a.service.d/"+d.Name)
			}
			if strings.Join(paths, ",") != strings.Join(wantPaths, ",") {
				t.Errorf("write_files %v, want %v", paths, wantPaths)
			}

			// Both formats end with the unit as gardener-node-agent leaves it.
			wantState := userdatatest.NodeAgentState(&tc.unit.Enable, string(tc.unit.Command))
			if got := userdatatest.CloudInitUnitStates(t, ci)["a.service"]; got != wantState {
				t.Errorf("cloud-init leaves a.service %v, gardener-node-agent %v", got, wantState)
			}
			if got := userdatatest.IgnitionUnitStates(t, ign)["a.service"]; got.Run != wantState.Run || got.Enabled != "" && got.Enabled != wantState.Enabled {
				t.Errorf("ignition leaves a.service %v, gardener-node-agent %v", got, wantState)
			}
		})
	}
}

func TestUnitNames(t *testing.T) {
	// systemd escapes characters in unit names with \x..; those and other
	// legal characters must survive YAML.
	names := []string{`var-lib\x2dcontainerd.mount`, "getty@tty1.service", "a:b.service", "yes.service", "-.slice"}
	plan := &render.Plan{}
	for _, n := range names {
		c := "[Unit]\nDescription=x\n"
		plan.Units = append(plan.Units, render.Unit{Name: n, Content: &c, Enable: true, Command: render.CommandRestart})
	}
	ign, err := render.Ignition(plan)
	if err != nil {
		t.Fatal(err)
	}
	userdatatest.Ignition(t, ign)
	cfg, _, _ := ignition.Parse(ign)
	starter := *cfg.Systemd.Units[len(cfg.Systemd.Units)-1].Contents
	if want := `-/usr/bin/systemctl start --no-block var-lib\\x2dcontainerd.mount getty@tty1.service`; !strings.Contains(starter, want) {
		t.Errorf("%s does not escape backslashes for ExecStart (want %s):\n%s", render.StartUnit, want, starter)
	}

	ci, err := render.CloudInit(plan)
	if err != nil {
		t.Fatal(err)
	}
	userdatatest.CloudInit(t, ci)
	var doc struct {
		WriteFiles []struct{ Path string } `yaml:"write_files"`
		RunCmd     [][]string              `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal(ci, &doc); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if got := doc.WriteFiles[i].Path; got != "/etc/systemd/system/"+n {
			t.Errorf("path %q, want %q", got, "/etc/systemd/system/"+n)
		}
		if got := doc.RunCmd[1+2*i+1]; strings.Join(got, " ") != "systemctl restart --no-block "+n {
			t.Errorf("runcmd %q for %q", got, n)
		}
	}
}

func TestEmptyPlan(t *testing.T) {
	ign, err := render.Ignition(&render.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	userdatatest.Ignition(t, ign)
	ci, err := render.CloudInit(&render.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	userdatatest.CloudInit(t, ci)
}

func TestModes(t *testing.T) {
	plan := &render.Plan{Files: []render.File{
		{Path: "/a", Mode: 0o755, Data: []byte("x"), Plain: true},
		{Path: "/b", Mode: 0o4755, Data: []byte("x"), Plain: true},
		{Path: "/c", Data: []byte("x"), Plain: true},
	}}
	ci, err := render.CloudInit(plan)
	if err != nil {
		t.Fatal(err)
	}
	userdatatest.CloudInit(t, ci)
	for _, want := range []string{`permissions: "0755"`, `permissions: "04755"`, `permissions: "0600"`} {
		if !strings.Contains(string(ci), want) {
			t.Errorf("cloud-config lacks %s:\n%s", want, ci)
		}
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func TestIgnitionRejectsInvalid(t *testing.T) {
	// The translator validates OSCs first; this is the last line of defence.
	cases := map[string]*render.Plan{
		"relative path":     {Files: []render.File{{Path: "etc/x", Data: []byte("x")}}},
		"unit without type": {Units: []render.Unit{{Name: "kubelet", Enable: true}}},
		"drop-in not .conf": {Units: []render.Unit{{Name: "a.service", DropIns: []render.DropIn{{Name: "x", Content: "[Service]\n"}}}}},
		"duplicate path":    {Files: []render.File{{Path: "/a", Data: []byte("x")}, {Path: "/a", Data: []byte("y")}}},
	}
	for name, plan := range cases {
		t.Run(name, func(t *testing.T) {
			if out, err := render.Ignition(plan); err == nil || !strings.Contains(err.Error(), "rendered Ignition config is invalid") {
				t.Fatalf("Ignition = %s, %v; want an invalid-config error", out, err)
			}
		})
	}
}
