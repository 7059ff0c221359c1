package render

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	ignition "github.com/coreos/ignition/v2/config/v3_5/types"
	"github.com/coreos/ignition/v2/config/validate"
)

// IgnitionVersion is the Ignition spec version rendered.
const IgnitionVersion = "3.5.0"

// StartUnit is the unit the Ignition output adds to start, at every boot,
// the units asked to be started that enabling alone would not start.
const StartUnit = "metalkube-start-units.service"

// Ignition renders the plan as an Ignition config (compact JSON).
//
// Files are written with overwrite set, so files the image ships (e.g.
// /etc/containerd/config.toml) are replaced. A unit is enabled when it asks to
// be and either brings no content (the image's unit) or content with an
// [Install] section; enabling it otherwise would do nothing, and Ignition
// warns about it. Units asked to be disabled or stopped are disabled.
//
// Ignition cannot run commands, so a unit asked to start or restart whose
// start enabling does not guarantee — not enabled, content without an
// [Install] section, or the image's own unit — is started by StartUnit, a
// oneshot unit wanted by multi-user.target (starting a running unit does
// nothing).
//
// The config is checked with Ignition's own validator before it is returned:
// a machine does not boot with an invalid one.
func Ignition(p *Plan) ([]byte, error) {
	cfg := IgnitionConfig(p)
	if err := validateIgnition(cfg); err != nil {
		return nil, err
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("marshal ignition config: %w", err)
	}
	return out, nil
}

// validateIgnition runs Ignition's validator on the config, minus the file
// contents: those are data URLs built by dataURL (tested to decode back to the
// content), and decoding every one again would triple the cost of a large
// config. Paths, modes, units, drop-ins and duplicates are all checked.
func validateIgnition(cfg ignition.Config) error {
	files := make([]ignition.File, len(cfg.Storage.Files))
	empty := "data:,"
	for i, f := range cfg.Storage.Files {
		f.Contents.Source = &empty
		files[i] = f
	}
	cfg.Storage.Files = files
	if rpt := validate.ValidateWithContext(cfg, nil); rpt.IsFatal() {
		return fmt.Errorf("rendered Ignition config is invalid: %s", rpt.String())
	}
	return nil
}

// IgnitionConfig builds the Ignition config of the plan.
func IgnitionConfig(p *Plan) ignition.Config {
	cfg := ignition.Config{Ignition: ignition.Ignition{Version: IgnitionVersion}}
	cfg.Storage.Files = make([]ignition.File, 0, len(p.Files))
	for _, f := range p.Files {
		m := int(mode(f.Mode))
		source := dataURL(f.Data, f.Plain)
		cfg.Storage.Files = append(cfg.Storage.Files, ignition.File{
			Node: ignition.Node{Path: f.Path, Overwrite: ptr(true)},
			FileEmbedded1: ignition.FileEmbedded1{
				Contents: ignition.Resource{Source: &source},
				Mode:     &m,
			},
		})
	}
	cfg.Systemd.Units = make([]ignition.Unit, 0, len(p.Units)+1)
	var start []string
	for _, u := range p.Units {
		startedByEnable := u.Enable && u.Content != nil && hasInstallSection(*u.Content)
		if (u.Command == CommandStart || u.Command == CommandRestart) && !startedByEnable {
			// systemd unescapes C escapes in ExecStart; unit names carry
			// \x2d and the like.
			start = append(start, strings.ReplaceAll(u.Name, `\`, `\\`))
		}
		iu := ignition.Unit{Name: u.Name, Contents: u.Content}
		switch {
		case !u.Enable || u.Command == CommandStop:
			iu.Enabled = ptr(false)
		case u.Content == nil || hasInstallSection(*u.Content):
			iu.Enabled = ptr(true)
		}
		for _, d := range u.DropIns {
			iu.Dropins = append(iu.Dropins, ignition.Dropin{Name: d.Name, Contents: ptr(d.Content)})
		}
		cfg.Systemd.Units = append(cfg.Systemd.Units, iu)
	}
	if len(start) > 0 {
		content := "[Unit]\nDescription=Starts the units the OperatingSystemConfig asks to start (metalkube)\n" +
			"[Service]\nType=oneshot\nExecStart=/usr/bin/systemctl start --no-block " + strings.Join(start, " ") + "\n" +
			"[Install]\nWantedBy=multi-user.target\n"
		cfg.Systemd.Units = append(cfg.Systemd.Units, ignition.Unit{Name: StartUnit, Contents: &content, Enabled: ptr(true)})
	}
	return cfg
}

// dataURL encodes data as an RFC 2397 data URL: percent-encoded when plain
// (every byte but the unreserved ones of RFC 3986 escaped, which is what the
// machine-controller-manager looks for when it replaces placeholders),
// base64 otherwise.
func dataURL(data []byte, plain bool) string {
	if !plain || !utf8.Valid(data) {
		const prefix = "data:;base64,"
		out := make([]byte, len(prefix)+base64.StdEncoding.EncodedLen(len(data)))
		copy(out, prefix)
		base64.StdEncoding.Encode(out[len(prefix):], data)
		return string(out)
	}
	const prefix, hex = "data:,", "0123456789ABCDEF"
	n := len(prefix)
	for _, c := range data {
		if unreserved(c) {
			n++
		} else {
			n += 3
		}
	}
	out := make([]byte, n)
	i := copy(out, prefix)
	for _, c := range data {
		if unreserved(c) {
			out[i] = c
			i++
			continue
		}
		out[i], out[i+1], out[i+2] = '%', hex[c>>4], hex[c&15]
		i += 3
	}
	return string(out)
}

// unreserved reports whether c is an unreserved character of RFC 3986.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

func ptr[T any](v T) *T { return &v }
