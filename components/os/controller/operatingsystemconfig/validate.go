package operatingsystemconfig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/ignition/v2/config/shared/parse"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"

	"github.com/metalkube/metalkube/components/os/render"
)

// unitTypes are the unit name suffixes systemd knows.
var unitTypes = []string{".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path", ".timer", ".slice", ".scope"}

// validateSpec checks the units and files of an OSC spec and returns every
// problem found, each naming the unit or file it is about.
func validateSpec(spec *extensionsv1alpha1.OperatingSystemConfigSpec) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	unitFiles := map[string]string{} // path -> what writes it
	units := map[string]bool{}
	for i, u := range spec.Units {
		if u.Name == "" {
			add("unit #%d has no name", i)
			continue
		}
		if units[u.Name] {
			add("unit %q is defined twice", u.Name)
			continue
		}
		units[u.Name] = true
		if u.Name == render.StartUnit {
			add("unit %q: the name is reserved for metalkube", u.Name)
		}
		if !printable(u.Name) {
			add("unit %q: name must be valid UTF-8 without control characters", u.Name)
		}
		if strings.Contains(u.Name, "/") || !hasUnitType(u.Name) {
			add("unit %q: name must be a systemd unit name ending in one of %s", u.Name, strings.Join(unitTypes, ", "))
		}
		if u.Command != nil {
			switch *u.Command {
			case extensionsv1alpha1.CommandStart, extensionsv1alpha1.CommandRestart, extensionsv1alpha1.CommandStop:
			default:
				add("unit %q: unknown command %q (want start, restart or stop)", u.Name, *u.Command)
			}
		}
		if u.Content != nil && !utf8.ValidString(*u.Content) {
			add("unit %q: content is not valid UTF-8", u.Name)
		}
		if u.Content != nil {
			if _, err := parse.ParseUnitContents(u.Content); err != nil {
				add("unit %q: content: %w", u.Name, err)
			}
			unitFiles[render.UnitPath(u.Name)] = fmt.Sprintf("unit %q", u.Name)
		}
		dropIns := map[string]bool{}
		for j, d := range u.DropIns {
			switch {
			case d.Name == "":
				add("unit %q: drop-in #%d has no name", u.Name, j)
				continue
			case dropIns[d.Name]:
				add("unit %q: drop-in %q is defined twice", u.Name, d.Name)
				continue
			case strings.Contains(d.Name, "/") || path.Ext(d.Name) != ".conf" || !printable(d.Name):
				add("unit %q: drop-in %q: name must be a file name ending in .conf", u.Name, d.Name)
			}
			dropIns[d.Name] = true
			if !utf8.ValidString(d.Content) {
				add("unit %q: drop-in %q: content is not valid UTF-8", u.Name, d.Name)
			}
			if _, err := parse.ParseUnitContents(&d.Content); err != nil {
				add("unit %q: drop-in %q: content: %w", u.Name, d.Name, err)
			}
			unitFiles[render.DropInPath(u.Name, d.Name)] = fmt.Sprintf("drop-in %q of unit %q", d.Name, u.Name)
		}
	}

	files := map[string]bool{}
	for i, f := range spec.Files {
		if f.Path == "" {
			add("file #%d has no path", i)
			continue
		}
		// Host-specific files are written only on their host: a path may
		// appear once per host.
		key := f.Path
		if f.HostName != nil {
			key += "\x00" + *f.HostName
		}
		if files[key] {
			if f.HostName != nil {
				add("file %q is defined twice for host %q", f.Path, *f.HostName)
			} else {
				add("file %q is defined twice", f.Path)
			}
			continue
		}
		files[key] = true
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" || !printable(f.Path) {
			add("file %q: path must be an absolute, clean file path of valid UTF-8 without control characters", f.Path)
		}
		if owner, ok := unitFiles[f.Path]; ok {
			add("file %q: path is also written by %s", f.Path, owner)
		}
		if f.Permissions != nil && *f.Permissions > 0o7777 {
			add("file %q: permissions %o are not file mode bits", f.Path, *f.Permissions)
		}
		if err := validateContent(&f.Content); err != nil {
			add("file %q: %w", f.Path, err)
		}
	}
	return errors.Join(errs...)
}

func validateContent(c *extensionsv1alpha1.FileContent) error {
	sources := 0
	if c.Inline != nil {
		sources++
	}
	if c.SecretRef != nil {
		sources++
	}
	if c.ImageRef != nil {
		sources++
	}
	if sources != 1 {
		return fmt.Errorf("content needs exactly one of inline, secretRef or imageRef, has %d", sources)
	}
	switch {
	case c.Inline != nil:
		switch extensionsv1alpha1.FileCodecID(c.Inline.Encoding) {
		case extensionsv1alpha1.PlainFileCodecID:
		case extensionsv1alpha1.B64FileCodecID:
			if _, err := base64.StdEncoding.DecodeString(c.Inline.Data); err != nil {
				return fmt.Errorf("inline content is not valid base64: %w", err)
			}
		default:
			return fmt.Errorf("unknown encoding %q (want %q or %q)", c.Inline.Encoding, extensionsv1alpha1.PlainFileCodecID, extensionsv1alpha1.B64FileCodecID)
		}
	case c.SecretRef != nil:
		if c.SecretRef.Name == "" || c.SecretRef.DataKey == "" {
			return fmt.Errorf("secretRef needs a name and a dataKey")
		}
	case c.ImageRef != nil:
		if c.ImageRef.Image == "" || c.ImageRef.FilePathInImage == "" {
			return fmt.Errorf("imageRef needs an image and a filePathInImage")
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters:
// both formats carry names as JSON or YAML strings, which would replace
// invalid bytes and write the file elsewhere.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func hasUnitType(name string) bool {
	ext := path.Ext(name)
	for _, t := range unitTypes {
		if ext == t && len(name) > len(ext) {
			return true
		}
	}
	return false
}
