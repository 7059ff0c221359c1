package render

import (
	"path"
	"strings"
)

// UnitDir is where unit files and their drop-in directories are written.
const UnitDir = "/etc/systemd/system"

// Plan is what a machine gets at first boot. Paths and unit names are unique;
// the caller validates that.
type Plan struct {
	Files []File
	Units []Unit
}

// DefaultMode is the mode of a file without one: gardener-node-agent's
// default, so that a file keeps its mode when the agent takes it over.
const DefaultMode = 0o600

// File is a file with its content.
type File struct {
	// Path is absolute.
	Path string
	// Mode holds the permission bits (DefaultMode if zero).
	Mode uint32
	// Data is the file's content.
	Data []byte
	// Plain asks for the content to stay readable in the user data (no
	// base64, no compression), for placeholders such as <<BOOTSTRAP_TOKEN>>
	// that the machine-controller-manager replaces in the user data. Other
	// content gets whichever encoding makes the user data smallest.
	Plain bool
}

// Command is what to do with a unit at boot.
type Command string

// Unit commands, as in Gardener's OperatingSystemConfig.
const (
	CommandNone    Command = ""
	CommandStart   Command = "start"
	CommandRestart Command = "restart"
	CommandStop    Command = "stop"
)

// Unit is a systemd unit. What happens to it at provisioning follows
// gardener-node-agent, which applies every later change of the same units:
// the unit is enabled when Enable is set and disabled otherwise, then
// stopped when it is disabled or its command is stop, and (re)started in
// every other case — with or without a command. Start and restart are the
// same at first boot.
type Unit struct {
	Name string
	// Content is the unit file; nil keeps the one the image ships.
	Content *string
	// Enable enables the unit (false disables it).
	Enable bool
	// Command is the OSC's command: start, restart, stop or none.
	Command Command
	DropIns []DropIn
}

// Started reports whether the unit runs after provisioning: it is enabled
// and its command is not stop (gardener-node-agent restarts such a unit).
func (u *Unit) Started() bool { return u.Enable && u.Command != CommandStop }

// DropIn is a unit drop-in file, written to <unit>.d/<name>.
type DropIn struct {
	Name    string
	Content string
}

// UnitPath is the path of a unit's file.
func UnitPath(name string) string { return path.Join(UnitDir, name) }

// DropInPath is the path of a unit's drop-in.
func DropInPath(unit, dropIn string) string { return path.Join(UnitDir, unit+".d", dropIn) }

// hasInstallSection reports whether unit content has an [Install] section;
// enabling a unit without one does nothing.
func hasInstallSection(content string) bool {
	for line := range strings.Lines(content) {
		if strings.TrimSpace(line) == "[Install]" {
			return true
		}
	}
	return false
}

func mode(m uint32) uint32 {
	if m == 0 {
		return DefaultMode
	}
	return m
}

// UnitFileMode is the mode of unit files and drop-ins in both formats:
// Ignition writes them 0644 and cannot be told otherwise.
const UnitFileMode = 0o644
