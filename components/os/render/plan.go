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

// File is a file with its content.
type File struct {
	// Path is absolute.
	Path string
	// Mode holds the permission bits (0644 if zero).
	Mode uint32
	// Data is the file's content.
	Data []byte
	// Plain asks for the content to be readable in the user data rather than
	// base64 (ignored for content that is not valid UTF-8).
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

// Unit is a systemd unit.
type Unit struct {
	Name string
	// Content is the unit file; nil keeps the one the image ships.
	Content *string
	// Enable enables the unit (false disables it).
	Enable bool
	// Command is run after the files are written (cloud-init). Ignition can
	// only enable units; enabled units start with the boot.
	Command Command
	DropIns []DropIn
}

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
		return 0o644
	}
	return m
}
