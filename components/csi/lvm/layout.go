package lvm

import (
	"fmt"
	"strconv"
)

// Layout is how a logical volume's extents lie on the physical volumes.
type Layout struct {
	// Type is LayoutLinear (the default when empty), LayoutStriped or
	// LayoutMirror.
	Type string
	// Stripes of a striped volume; 0: one per physical volume.
	Stripes int
	// Mirrors of a mirrored volume: copies besides the first; 0: 1.
	Mirrors int
}

// The layouts (csi-lvm's and csi-driver-lvm's volume types).
const (
	LayoutLinear  = "linear"
	LayoutStriped = "striped"
	LayoutMirror  = "mirror"
)

// LayoutError says why a volume group cannot make a layout.
type LayoutError struct {
	Layout Layout
	Reason string
}

func (e *LayoutError) Error() string {
	return fmt.Sprintf("%s volumes: %s", e.Layout.Type, e.Reason)
}

// Copies is how many times a volume of this layout holds its data: the
// space it takes per byte of size.
func (l Layout) Copies() int64 {
	if l.Type == LayoutMirror {
		return int64(max(l.Mirrors, 1)) + 1
	}
	return 1
}

// CheckLayout returns a *LayoutError when the volume group cannot make
// volumes of layout l: loop activation maps a volume onto one contiguous
// range of one physical volume, which striped and mirrored volumes are not,
// and a stripe or mirror leg needs a physical volume of its own.
func (g *VG) CheckLayout(l Layout) error {
	_, err := createArgs(g.name, "check", 1, l, g.activation, len(g.devices))
	return err
}

// createArgs returns the lvcreate command line (without the device
// restriction run adds) for a new volume name of size bytes and layout l in
// volume group vg, tagged TagPending, inactive and unzeroed in loop
// activation (finish zeroes it), on a volume group of pvs physical volumes.
func createArgs(vg, name string, size int64, l Layout, act Activation, pvs int) ([]string, error) {
	args := []string{"lvcreate", "-y", "-n", name, "-L", strconv.FormatInt(size, 10) + "b", "--addtag", TagPending}
	switch l.Type {
	case "", LayoutLinear:
		args = append(args, "--type", "linear")
	case LayoutStriped, LayoutMirror:
		if act == ActivationLoop {
			return nil, &LayoutError{Layout: l, Reason: "they need device-mapper (dm-stripe, dm-raid), which loop activation (a kernel without device-mapper) cannot give; only linear volumes are made here"}
		}
		legs := l.Stripes
		if l.Type == LayoutMirror {
			legs = int(l.Copies())
		} else if legs == 0 {
			legs = pvs
		}
		if legs < 2 || legs > pvs {
			return nil, &LayoutError{Layout: l, Reason: fmt.Sprintf("%d legs need as many physical volumes (at least 2), the volume group has %d", legs, pvs)}
		}
		if l.Type == LayoutStriped {
			args = append(args, "--type", "striped", "-i", strconv.Itoa(legs))
		} else {
			// raid1: lvm2's mirror type, one leg per physical volume,
			// synchronised in the background.
			args = append(args, "--type", "raid1", "-m", strconv.Itoa(legs-1))
		}
	default:
		return nil, &LayoutError{Layout: l, Reason: fmt.Sprintf("unknown type %q, want %s, %s or %s", l.Type, LayoutLinear, LayoutStriped, LayoutMirror)}
	}
	if act == ActivationLoop {
		args = append(args, "-an", "-Zn", "--alloc", "contiguous")
	} else {
		args = append(args, "-Wy", "-Zy")
	}
	return append(args, vg), nil
}
