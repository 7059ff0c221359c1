package operatingsystemconfig_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"k8s.io/utils/ptr"

	"github.com/metalkube/metalkube/components/os/internal/userdatatest"
)

// FuzzTranslate translates a provision OSC with one fuzzed file and one
// fuzzed unit, for Ignition (flatcar) and cloud-init (ubuntu). It must not
// panic; a refusal names the file or unit it is about; accepted user data
// parses (Ignition's own parser for Ignition) and writes the file with
// exactly its bytes.
func FuzzTranslate(f *testing.F) {
	f.Add(true, "/etc/hello", []byte("hello\n"), false, uint32(0o644), "hello.service", "[Service]\nExecStart=/bin/true\n", "start")
	f.Add(false, "/opt/bin/x.sh", []byte("#!/bin/sh\necho 'a: b' \"%s\" <>&\n"), true, uint32(0o755), "x.timer", "[Timer]\nOnBootSec=1\n", "restart")
	f.Add(false, "/etc/y", []byte("\x00\xff\n---\n- a\n"), false, uint32(0), "y.path", "", "stop")
	f.Add(true, "/etc/../z", []byte(""), false, uint32(0o17777), "bad/name", "[Unit", "reload")
	f.Fuzz(func(t *testing.T, ignition bool, path string, data []byte, b64 bool, perms uint32, unit, content, command string) {
		osType, isIgnition := "ubuntu", false
		if ignition {
			osType, isIgnition = "flatcar", true
		}
		inline := &extensionsv1alpha1.FileContentInline{Data: string(data)}
		if b64 {
			inline = &extensionsv1alpha1.FileContentInline{Encoding: "b64", Data: base64.StdEncoding.EncodeToString(data)}
		}
		u := extensionsv1alpha1.Unit{Name: unit, Command: ptr.To(extensionsv1alpha1.UnitCommand(command))}
		if content != "" {
			u.Content = ptr.To(content)
		}
		osc := minimal(osType)
		osc.Spec.Units = []extensionsv1alpha1.Unit{u}
		osc.Spec.Files = []extensionsv1alpha1.File{{Path: path, Permissions: ptr.To(perms), Content: extensionsv1alpha1.FileContent{Inline: inline}}}
		res, err := newTranslator().Translate(context.Background(), osc)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, strconv.Quote(path)) && !strings.Contains(msg, strconv.Quote(unit)) && !strings.Contains(msg, "#0") {
				t.Fatalf("refusal names neither file %q nor unit %q: %v", path, unit, err)
			}
			return
		}
		var files map[string]userdatatest.File
		if isIgnition {
			userdatatest.Ignition(t, res.UserData)
			files = userdatatest.IgnitionFiles(t, res.UserData)
		} else {
			if !bytes.HasPrefix(res.UserData, []byte("#cloud-config\n")) {
				t.Fatalf("cloud-config without its header:\n%s", res.UserData)
			}
			files = userdatatest.CloudInitFiles(t, res.UserData)
		}
		got, ok := files[path]
		if !ok {
			t.Fatalf("accepted file %q is not in the user data", path)
		}
		if !bytes.Equal(got.Data, data) {
			t.Fatalf("file %q: wrote %q, want %q", path, got.Data, data)
		}
	})
}
