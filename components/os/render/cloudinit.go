package render

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// CloudConfigHeader starts every cloud-config document.
const CloudConfigHeader = "#cloud-config\n"

// CloudInit renders the plan as a #cloud-config document.
//
// write_files carries the files, then the unit files and drop-ins
// (UnitFileMode), each file's content encoded as described at
// cloudInitContent. runcmd reloads systemd, then treats each unit as
// gardener-node-agent does (see Unit) and as Gardener's OS extensions do in
// their user data: `systemctl enable` (or disable), then `systemctl restart`
// — also for units without a command, which enabling alone would leave
// stopped until a reboot because multi-user.target is already under way when
// cloud-init runs — or `systemctl stop` for units that must not run. Restart
// and stop do not block, so units ordered after cloud-final.service cannot
// deadlock the boot.
//
// The YAML is written directly (see yaml.go): plain content as a literal
// block where YAML allows one, double-quoted otherwise, and every scalar safe
// for cloud-init's YAML 1.1 reader (a plain yes or 0644 would be no string).
func CloudInit(p *Plan) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(cloudInitSize(p))
	b.WriteString(CloudConfigHeader)
	if len(p.Files) == 0 && len(p.Units) == 0 {
		// cloud-init wants a mapping, even an empty one.
		b.WriteString("{}\n")
		return b.Bytes(), nil
	}
	if len(p.Files) > 0 || hasUnitFiles(p.Units) {
		b.WriteString("write_files:\n")
		var z compressor
		for _, f := range p.Files {
			writeFile(&b, f.Path, mode(f.Mode), f.Data, f.Plain, &z)
		}
		for _, u := range p.Units {
			// Unit files stay readable: they are small, and people read them.
			if u.Content != nil {
				writeFile(&b, UnitPath(u.Name), UnitFileMode, []byte(*u.Content), true, &z)
			}
			for _, d := range u.DropIns {
				writeFile(&b, DropInPath(u.Name, d.Name), UnitFileMode, []byte(d.Content), true, &z)
			}
		}
	}
	if len(p.Units) > 0 {
		b.WriteString("runcmd:\n")
		command(&b, "systemctl", "daemon-reload")
		for i := range p.Units {
			u := &p.Units[i]
			if u.Enable {
				command(&b, "systemctl", "enable", u.Name)
			} else {
				command(&b, "systemctl", "disable", u.Name)
			}
			if u.Started() {
				command(&b, "systemctl", "restart", "--no-block", u.Name)
			} else {
				command(&b, "systemctl", "stop", "--no-block", u.Name)
			}
		}
	}
	return b.Bytes(), nil
}

func writeFile(b *bytes.Buffer, path string, mode uint32, data []byte, plain bool, z *compressor) {
	b.WriteString("  - path: ")
	writeScalar(b, path)
	fmt.Fprintf(b, "\n    permissions: \"0%03o\"\n", mode)
	cloudInitContent(b, data, plain, z)
}

func command(b *bytes.Buffer, args ...string) {
	b.WriteString("  - [")
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		writeScalar(b, a)
	}
	b.WriteString("]\n")
}

func hasUnitFiles(units []Unit) bool {
	for _, u := range units {
		if u.Content != nil || len(u.DropIns) > 0 {
			return true
		}
	}
	return false
}

// cloudInitSize estimates the output size, to allocate once.
func cloudInitSize(p *Plan) int {
	n := 64
	for _, f := range p.Files {
		n += 64 + len(f.Path) + base64.StdEncoding.EncodedLen(len(f.Data))
	}
	for _, u := range p.Units {
		n += 160 + 3*len(u.Name)
		if u.Content != nil {
			n += 64 + len(*u.Content) + 6*strings.Count(*u.Content, "\n")
		}
		for _, d := range u.DropIns {
			n += 64 + len(d.Content) + 6*strings.Count(d.Content, "\n")
		}
	}
	return n
}
