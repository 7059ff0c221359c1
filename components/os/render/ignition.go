package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	ignition "github.com/coreos/ignition/v2/config/v3_5/types"
	"github.com/coreos/ignition/v2/config/validate"
)

// IgnitionVersion is the Ignition spec version rendered.
const IgnitionVersion = "3.5.0"

// StartUnit is the unit the Ignition output adds to start and stop, once at
// first boot, the units whose state enabling alone does not give.
const StartUnit = "metalkube-start-units.service"

// StartedStamp is the file StartUnit leaves behind so that it runs once: like
// cloud-init's runcmd, it acts at provisioning; later changes are
// gardener-node-agent's.
const StartedStamp = "/var/lib/metalkube/units-started"

// Ignition renders the plan as an Ignition config (compact JSON).
//
// Files are written with overwrite set, so files the image ships (e.g.
// /etc/containerd/config.toml) are replaced; each file's content is encoded
// as described at ignitionContents.
//
// Units follow gardener-node-agent (see Unit): a unit asked to be enabled is
// enabled when it brings no content (the image's unit) or content with an
// [Install] section (enabling it otherwise does nothing, and Ignition warns
// about it); a unit asked not to be is disabled. Ignition cannot run
// commands, so StartUnit, a oneshot unit wanted by multi-user.target that runs
// at first boot only, starts every unit that must run and that enabling does
// not start — content without an [Install] section, or the image's own unit
// — and stops every unit that must not run. Enabled units with an [Install]
// section start with the boot, after Ignition wrote every file: no restart is
// needed, and restarting them would run oneshot units such as
// gardener-node-init.service twice.
//
// The config is checked with Ignition's own validator before it is returned:
// a machine does not boot with an invalid one.
func Ignition(p *Plan) ([]byte, error) {
	cfg := IgnitionConfig(p)
	if err := validateIgnition(cfg); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Data URLs may hold '&'; HTML escaping would make it six bytes.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("marshal ignition config: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// validateIgnition runs Ignition's validator on the config, minus the file
// contents: those are data URLs built by ignitionContents (tested to decode
// back to the content), and decoding every one again would triple the cost of
// a large config. Paths, modes, units, drop-ins and duplicates are all
// checked.
func validateIgnition(cfg ignition.Config) error {
	files := make([]ignition.File, len(cfg.Storage.Files))
	empty := "data:,"
	for i, f := range cfg.Storage.Files {
		f.Contents.Source = &empty
		f.Contents.Compression = nil
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
	var z compressor
	for i := range p.Files {
		f := &p.Files[i]
		m := int(mode(f.Mode))
		source, compression := ignitionContents(f, &z)
		res := ignition.Resource{Source: &source}
		if compression != "" {
			res.Compression = &compression
		}
		cfg.Storage.Files = append(cfg.Storage.Files, ignition.File{
			Node:          ignition.Node{Path: f.Path, Overwrite: ptr(true)},
			FileEmbedded1: ignition.FileEmbedded1{Contents: res, Mode: &m},
		})
	}
	cfg.Systemd.Units = make([]ignition.Unit, 0, len(p.Units)+1)
	var start, stop []string
	for i := range p.Units {
		u := &p.Units[i]
		iu := ignition.Unit{Name: u.Name, Contents: u.Content}
		startsWithBoot := false
		switch {
		case !u.Enable:
			iu.Enabled = ptr(false)
		case u.Content == nil:
			iu.Enabled = ptr(true)
		case hasInstallSection(*u.Content):
			iu.Enabled = ptr(true)
			startsWithBoot = true
		}
		// systemd unescapes C escapes in ExecStart; unit names carry \x2d
		// and the like.
		name := strings.ReplaceAll(u.Name, `\`, `\\`)
		switch {
		case !u.Started():
			stop = append(stop, name)
		case !startsWithBoot:
			start = append(start, name)
		}
		for _, d := range u.DropIns {
			iu.Dropins = append(iu.Dropins, ignition.Dropin{Name: d.Name, Contents: ptr(d.Content)})
		}
		cfg.Systemd.Units = append(cfg.Systemd.Units, iu)
	}
	if len(start) > 0 || len(stop) > 0 {
		cfg.Systemd.Units = append(cfg.Systemd.Units, ignition.Unit{Name: StartUnit, Contents: ptr(startUnit(start, stop)), Enabled: ptr(true)})
	}
	return cfg
}

// startUnit is the content of StartUnit. --no-block queues the jobs and
// returns: units ordered after multi-user.target cannot deadlock the boot.
func startUnit(start, stop []string) string {
	var b strings.Builder
	b.WriteString("[Unit]\nDescription=Starts and stops the units of the OperatingSystemConfig at first boot (metalkube)\n" +
		"ConditionPathExists=!" + StartedStamp + "\n" +
		"[Service]\nType=oneshot\n")
	// "-": a unit the image lacks (stopping locksmithd where Flatcar dropped
	// it) fails that command only; the others still run, as in cloud-init's
	// runcmd.
	if len(stop) > 0 {
		b.WriteString("ExecStart=-/usr/bin/systemctl stop --no-block " + strings.Join(stop, " ") + "\n")
	}
	if len(start) > 0 {
		b.WriteString("ExecStart=-/usr/bin/systemctl start --no-block " + strings.Join(start, " ") + "\n")
	}
	b.WriteString("ExecStartPost=/usr/bin/mkdir -p " + path.Dir(StartedStamp) + "\n" +
		"ExecStartPost=/usr/bin/touch " + StartedStamp + "\n" +
		"[Install]\nWantedBy=multi-user.target\n")
	return b.String()
}

func ptr[T any](v T) *T { return &v }
