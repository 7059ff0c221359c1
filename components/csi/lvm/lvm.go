package lvm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Activation says how a logical volume becomes a block device.
type Activation string

// The activations; see the package documentation.
const (
	ActivationDM   Activation = "dm"
	ActivationLoop Activation = "loop"
)

// ErrNotFound is returned for a logical volume that does not exist.
var ErrNotFound = errors.New("logical volume not found")

// InsufficientSpaceError says that a volume group has too little free space.
type InsufficientSpaceError struct {
	VG   string
	Need int64
	Free int64
	// Detail is lvm2's own message, when lvm2 refused.
	Detail string
}

func (e *InsufficientSpaceError) Error() string {
	msg := fmt.Sprintf("volume group %s: %d bytes needed, %d bytes free", e.VG, e.Need, e.Free)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Config says which volume group to use and how.
type Config struct {
	// VG is the volume group's name.
	VG string
	// Devices are glob patterns (/dev/nvme*n1, /dev/sd*) of the disks the
	// volume group is made of when it has to be created.
	Devices []string
	// Activation is ActivationDM or ActivationLoop; empty: DetectActivation.
	Activation Activation
	// Command is the lvm2 binary; empty: lvm from $PATH.
	Command string
}

// VG is one volume group. Its methods are safe for concurrent use.
type VG struct {
	name       string
	devices    []string
	activation Activation
	command    string
	udev       bool
	// mu serialises lvm2 changes of this process, so that check-then-act
	// sequences (free space, existence) hold; it guards the caches below.
	mu sync.Mutex
	// extentSize and peStart (per physical volume) never change once the
	// volume group exists: loop activation reads them once.
	extentSize int64
	peStart    map[string]int64
}

// Info is the state of a volume group.
type Info struct {
	Name       string
	Size       int64
	Free       int64
	ExtentSize int64
}

// LV is a logical volume.
type LV struct {
	Name string
	Size int64
	Tags []string
	// Segments are the volume's extent ranges on physical volumes.
	Segments []Segment
}

// Segment is one extent range of a logical volume on a physical volume.
type Segment struct {
	PV         string
	Start, End int64 // first and last physical extent, inclusive
}

// DetectActivation returns ActivationDM where the kernel has device-mapper
// (/proc/misc lists device-mapper) and ActivationLoop elsewhere.
func DetectActivation() Activation {
	b, err := os.ReadFile("/proc/misc")
	if err == nil && bytes.Contains(b, []byte("device-mapper")) {
		return ActivationDM
	}
	return ActivationLoop
}

// ValidName reports whether s may name a volume group or logical volume.
func ValidName(s string) bool {
	if s == "" || len(s) > 127 || s[0] == '-' || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+_.-", r)) {
			return false
		}
	}
	return true
}

// Open resolves the device patterns and returns the volume group, creating it
// (pvcreate, vgcreate) from the matched devices when it does not exist.
func Open(ctx context.Context, cfg Config) (*VG, error) {
	if !ValidName(cfg.VG) {
		return nil, fmt.Errorf("volume group name %q: not a valid lvm2 name", cfg.VG)
	}
	var devices []string
	for _, p := range cfg.Devices {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("device pattern %q: %w", p, err)
		}
		devices = append(devices, m...)
	}
	slices.Sort(devices)
	devices = slices.Compact(devices)
	if len(devices) == 0 {
		return nil, fmt.Errorf("device patterns %q match no device", cfg.Devices)
	}
	act := cfg.Activation
	if act == "" {
		act = DetectActivation()
	}
	if act != ActivationDM && act != ActivationLoop {
		return nil, fmt.Errorf("activation %q: want %s or %s", act, ActivationDM, ActivationLoop)
	}
	cmd := cfg.Command
	if cmd == "" {
		cmd = "lvm"
	}
	_, err := os.Stat("/run/udev/control")
	vg := &VG{name: cfg.VG, devices: devices, activation: act, command: cmd, udev: err == nil}
	if _, err := vg.Info(ctx); err == nil {
		return vg, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if _, err := vg.run(ctx, append([]string{"pvcreate", "-y"}, devices...)...); err != nil {
		return nil, fmt.Errorf("create physical volumes on %v: %w", devices, err)
	}
	if _, err := vg.run(ctx, append([]string{"vgcreate", "-y", cfg.VG}, devices...)...); err != nil {
		return nil, fmt.Errorf("create volume group %s on %v: %w", cfg.VG, devices, err)
	}
	return vg, nil
}

// Name is the volume group's name.
func (g *VG) Name() string { return g.name }

// Devices are the disks the device patterns matched.
func (g *VG) Devices() []string { return slices.Clone(g.devices) }

// Activation is how volumes become block devices.
func (g *VG) Activation() Activation { return g.activation }

// run runs an lvm2 command restricted to the group's devices and returns its
// standard output.
func (g *VG) run(ctx context.Context, args ...string) ([]byte, error) {
	full := []string{args[0], "--devices", strings.Join(g.devices, ",")}
	if !g.udev {
		full = append(full, "--config", "activation{udev_sync=0 udev_rules=0} devices{obtain_device_list_from_udev=0}")
	}
	if g.activation == ActivationLoop {
		full = append(full, "--driverloaded", "n")
	}
	full = append(full, args[1:]...)
	cmd := exec.CommandContext(ctx, g.command, full...)
	cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &CommandError{Args: args, Err: err, Stderr: cleanStderr(stderr.String())}
	}
	return stdout.Bytes(), nil
}

// CommandError is a failed lvm2 command.
type CommandError struct {
	Args   []string
	Err    error
	Stderr string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("lvm %s: %v: %s", strings.Join(e.Args, " "), e.Err, e.Stderr)
}

func (e *CommandError) Unwrap() error { return e.Err }

// cleanStderr drops lvm2's warnings about disabled activation, which loop
// activation causes on purpose.
func cleanStderr(s string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(l, "Activation disabled") || strings.Contains(l, "not zeroed") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "; ")
}

// Info reports the volume group's size and free space; ErrNotFound when it
// does not exist.
func (g *VG) Info(ctx context.Context) (Info, error) {
	out, err := g.run(ctx, "vgs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "vg_name,vg_size,vg_free,vg_extent_size", g.name)
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr, "not found") {
			return Info{}, fmt.Errorf("volume group %s: %w", g.name, ErrNotFound)
		}
		return Info{}, err
	}
	var rep struct {
		Report []struct {
			VG []map[string]string `json:"vg"`
		} `json:"report"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return Info{}, fmt.Errorf("parse vgs report: %w", err)
	}
	if len(rep.Report) == 0 || len(rep.Report[0].VG) == 0 {
		return Info{}, fmt.Errorf("volume group %s: %w", g.name, ErrNotFound)
	}
	r := rep.Report[0].VG[0]
	info := Info{Name: r["vg_name"]}
	for k, p := range map[string]*int64{"vg_size": &info.Size, "vg_free": &info.Free, "vg_extent_size": &info.ExtentSize} {
		if *p, err = strconv.ParseInt(r[k], 10, 64); err != nil {
			return Info{}, fmt.Errorf("vgs %s=%q: %w", k, r[k], err)
		}
	}
	return info, nil
}

// List returns the volume group's logical volumes, sorted by name.
func (g *VG) List(ctx context.Context) ([]LV, error) {
	return g.list(ctx, g.name)
}

// Get returns one logical volume; ErrNotFound when it does not exist.
func (g *VG) Get(ctx context.Context, name string) (LV, error) {
	if !ValidName(name) {
		return LV{}, fmt.Errorf("%s/%s: %w", g.name, name, ErrNotFound)
	}
	lvs, err := g.list(ctx, g.name+"/"+name)
	var ce *CommandError
	if errors.As(err, &ce) && strings.Contains(ce.Stderr, "Failed to find logical volume") {
		return LV{}, fmt.Errorf("%s/%s: %w", g.name, name, ErrNotFound)
	}
	if err != nil {
		return LV{}, err
	}
	for _, lv := range lvs {
		if lv.Name == name {
			return lv, nil
		}
	}
	return LV{}, fmt.Errorf("%s/%s: %w", g.name, name, ErrNotFound)
}

func (g *VG) list(ctx context.Context, target string) ([]LV, error) {
	out, err := g.run(ctx, "lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "--segments", "--sort", "lv_name,seg_start", "-o", "lv_name,lv_size,lv_tags,seg_pe_ranges", target)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Report []struct {
			LV []map[string]string `json:"seg"`
		} `json:"report"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("parse lvs report: %w", err)
	}
	var lvs []LV
	if len(rep.Report) == 0 {
		return nil, nil
	}
	for _, r := range rep.Report[0].LV {
		size, err := strconv.ParseInt(r["lv_size"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("lvs %s lv_size=%q: %w", r["lv_name"], r["lv_size"], err)
		}
		segs, err := parseRanges(r["seg_pe_ranges"])
		if err != nil {
			return nil, fmt.Errorf("lvs %s: %w", r["lv_name"], err)
		}
		if n := len(lvs); n > 0 && lvs[n-1].Name == r["lv_name"] {
			lvs[n-1].Segments = append(lvs[n-1].Segments, segs...)
			continue
		}
		var tags []string
		if t := r["lv_tags"]; t != "" {
			tags = strings.Split(t, ",")
		}
		lvs = append(lvs, LV{Name: r["lv_name"], Size: size, Tags: tags, Segments: segs})
	}
	slices.SortFunc(lvs, func(a, b LV) int { return strings.Compare(a.Name, b.Name) })
	return lvs, nil
}

// parseRanges parses lvm2's seg_pe_ranges ("/dev/sda:0-7 /dev/sdb:0-7").
func parseRanges(s string) ([]Segment, error) {
	var segs []Segment
	for f := range strings.FieldsSeq(s) {
		i := strings.LastIndexByte(f, ':')
		if i < 0 {
			return nil, fmt.Errorf("extent range %q: no colon", f)
		}
		a, b, ok := strings.Cut(f[i+1:], "-")
		start, err1 := strconv.ParseInt(a, 10, 64)
		end, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("extent range %q: want pv:start-end", f)
		}
		segs = append(segs, Segment{PV: f[:i], Start: start, End: end})
	}
	return segs, nil
}

// TagPending marks a logical volume whose creation has not finished: made by
// lvcreate, but not yet zeroed and tagged. Create finishes such a volume.
const TagPending = "metalkube.io/creating"

// Pending reports whether lv's creation has not finished.
func (lv LV) Pending() bool {
	return slices.Contains(lv.Tags, TagPending)
}

// ExistsError is returned by Create for a name that a logical volume has:
// LV is that volume, finished or pending (Finish finishes it).
type ExistsError struct{ LV LV }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("logical volume %s exists (%d bytes, tags %v)", e.LV.Name, e.LV.Size, e.LV.Tags)
}

// Create creates a logical volume of layout l and at least size bytes (lvm2
// rounds up to whole extents) with the given tags and returns it. A volume
// the group cannot make fails with *LayoutError, one too large with
// *InsufficientSpaceError, a name in use with *ExistsError.
//
// Creation is crash-safe: lvcreate makes the volume tagged TagPending, the
// first MiB is zeroed (no file system signature of a removed volume on the
// same extents survives), and one lvchange swaps TagPending for tags. A
// volume a crash left pending is finished by Finish. That is three lvm2
// commands: lvcreate, lvs and lvchange; the free space and an existing volume
// are looked at only when lvcreate refuses.
func (g *VG) Create(ctx context.Context, name string, size int64, l Layout, tags []string) (LV, error) {
	if !ValidName(name) {
		return LV{}, fmt.Errorf("logical volume name %q: not a valid lvm2 name", name)
	}
	args, err := createArgs(g.name, name, size, l, g.activation, len(g.devices))
	if err != nil {
		return LV{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := g.run(ctx, args...); err != nil {
		var ce *CommandError
		if !errors.As(err, &ce) {
			return LV{}, err
		}
		if strings.Contains(ce.Stderr, "already exists") {
			lv, gerr := g.Get(ctx, name)
			if gerr != nil {
				return LV{}, gerr
			}
			return LV{}, &ExistsError{LV: lv}
		}
		if strings.Contains(strings.ToLower(ce.Stderr), "insufficient") {
			info, ierr := g.Info(ctx)
			if ierr != nil {
				return LV{}, ierr
			}
			return LV{}, &InsufficientSpaceError{VG: g.name, Need: roundUp(size, info.ExtentSize) * l.Copies(), Free: info.Free, Detail: ce.Stderr}
		}
		return LV{}, err
	}
	lv, err := g.Get(ctx, name)
	if err != nil {
		return LV{}, err
	}
	return g.finish(ctx, lv, tags)
}

// Finish finishes lv, which a Create cut short left pending: zeroes its start
// and tags it.
func (g *VG) Finish(ctx context.Context, lv LV, tags []string) (LV, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.finish(ctx, lv, tags)
}

// finish zeroes the start of a pending volume and tags it. In loop
// activation the zeros go straight to the volume's extents on its physical
// volume (where the loop device would map them); with device-mapper through
// the activated volume.
func (g *VG) finish(ctx context.Context, lv LV, tags []string) (LV, error) {
	n := min(lv.Size, 1<<20)
	if g.activation == ActivationLoop {
		pv, off, _, err := g.extent(ctx, lv)
		if err != nil {
			return LV{}, err
		}
		if err := writeZeros(pv, off, n); err != nil {
			return LV{}, fmt.Errorf("zero the start of %s/%s (%s at %d): %w", g.name, lv.Name, pv, off, err)
		}
	} else {
		if _, err := g.run(ctx, "lvchange", "-ay", g.name+"/"+lv.Name); err != nil {
			return LV{}, fmt.Errorf("activate %s/%s: %w", g.name, lv.Name, err)
		}
		werr := writeZeros("/dev/"+g.name+"/"+lv.Name, 0, n)
		if err := g.deactivateLV(ctx, lv); err != nil {
			return LV{}, err
		}
		if werr != nil {
			return LV{}, fmt.Errorf("zero the start of %s/%s: %w", g.name, lv.Name, werr)
		}
	}
	args := []string{"lvchange", "--deltag", TagPending}
	for _, t := range tags {
		args = append(args, "--addtag", t)
	}
	if _, err := g.run(ctx, append(args, g.name+"/"+lv.Name)...); err != nil {
		return LV{}, fmt.Errorf("tag %s/%s: %w", g.name, lv.Name, err)
	}
	lv.Tags = append(slices.DeleteFunc(lv.Tags, func(t string) bool { return t == TagPending }), tags...)
	return lv, nil
}

// writeZeros writes n zero bytes at off of dev and syncs them.
func writeZeros(dev string, off, n int64) error {
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// spaceError turns lvm2's allocation refusals into *InsufficientSpaceError.
func (g *VG) spaceError(err error, need, free int64) error {
	var ce *CommandError
	if errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Stderr), "insufficient") {
		return &InsufficientSpaceError{VG: g.name, Need: need, Free: free, Detail: ce.Stderr}
	}
	return err
}

// Extend grows a logical volume to at least size bytes; a volume already that
// large is left alone. An attached loop device follows the new size.
func (g *VG) Extend(ctx context.Context, name string, size int64) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	lv, err := g.Get(ctx, name)
	if err != nil {
		return 0, err
	}
	if lv.Size >= size {
		return lv.Size, nil
	}
	info, err := g.Info(ctx)
	if err != nil {
		return 0, err
	}
	if need := roundUp(size, info.ExtentSize) - lv.Size; need > info.Free {
		return 0, &InsufficientSpaceError{VG: g.name, Need: need, Free: info.Free}
	}
	if _, err := g.run(ctx, "lvextend", "-y", "-L", strconv.FormatInt(size, 10)+"b", g.name+"/"+name); err != nil {
		return 0, g.spaceError(err, size-lv.Size, info.Free)
	}
	if lv, err = g.Get(ctx, name); err != nil {
		return 0, err
	}
	if g.activation == ActivationLoop {
		if err := g.resizeLoop(ctx, lv); err != nil {
			return 0, err
		}
	}
	return lv.Size, nil
}

// Remove deactivates and removes logical volume lv, as Get or List returned
// it (loop activation finds its loop devices by its extents); ErrNotFound
// when it no longer exists.
func (g *VG) Remove(ctx context.Context, lv LV) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.deactivateLV(ctx, lv); err != nil {
		return err
	}
	if _, err := g.run(ctx, "lvremove", "-y", g.name+"/"+lv.Name); err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr, "Failed to find logical volume") {
			return fmt.Errorf("%s/%s: %w", g.name, lv.Name, ErrNotFound)
		}
		return fmt.Errorf("remove %s/%s: %w", g.name, lv.Name, err)
	}
	return nil
}

// RemoveTagged removes logical volume name if it carries one of tags and
// reports whether it did; a volume without them, or none at all, is left
// alone (false, nil). Where no volume can be attached (device-mapper, or no
// loop device on the group's disks) that is one lvremove selecting the
// volume by name and tags; otherwise the volume is looked up and its loop
// devices detached first (Remove).
func (g *VG) RemoveTagged(ctx context.Context, name string, tags []string) (bool, error) {
	if !ValidName(name) || len(tags) == 0 {
		return false, nil
	}
	if g.activation == ActivationLoop && loopsOn(g.devices) {
		lv, err := g.Get(ctx, name)
		if errors.Is(err, ErrNotFound) || err == nil && !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(lv.Tags, t) }) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if err := g.Remove(ctx, lv); err != nil && !errors.Is(err, ErrNotFound) {
			return false, err
		}
		return true, nil
	}
	sel := make([]string, len(tags))
	for i, t := range tags {
		sel[i] = fmt.Sprintf("lv_tags={%q}", t)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out, err := g.run(ctx, "lvremove", "-y", "-S", fmt.Sprintf("lv_name=%s && (%s)", name, strings.Join(sel, " || ")), g.name)
	if err != nil {
		return false, fmt.Errorf("remove %s/%s: %w", g.name, name, err)
	}
	return bytes.Contains(out, []byte("removed")), nil
}

// loopsOn reports whether a loop device is attached to one of devices (read
// from sysfs; true when sysfs cannot tell).
func loopsOn(devices []string) bool {
	files, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		return true
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if slices.Contains(devices, strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")) {
			return true
		}
	}
	return false
}

// ExtentSize is the volume group's extent size, which never changes: read
// once.
func (g *VG) ExtentSize(ctx context.Context) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.extentSize == 0 {
		info, err := g.Info(ctx)
		if err != nil {
			return 0, err
		}
		g.extentSize = info.ExtentSize
	}
	return g.extentSize, nil
}

// Activate makes a logical volume a block device and returns its path.
func (g *VG) Activate(ctx context.Context, name string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	lv, err := g.Get(ctx, name)
	if err != nil {
		return "", err
	}
	if g.activation == ActivationLoop {
		return g.attachLoop(ctx, lv)
	}
	if _, err := g.run(ctx, "lvchange", "-ay", g.name+"/"+name); err != nil {
		return "", fmt.Errorf("activate %s/%s: %w", g.name, name, err)
	}
	return "/dev/" + g.name + "/" + name, nil
}

// Deactivate removes a logical volume's block device; a volume without one is
// left alone.
func (g *VG) Deactivate(ctx context.Context, name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.deactivate(ctx, name)
}

func (g *VG) deactivate(ctx context.Context, name string) error {
	if g.activation == ActivationDM {
		return g.deactivateLV(ctx, LV{Name: name})
	}
	lv, err := g.Get(ctx, name)
	if err != nil {
		return err
	}
	return g.deactivateLV(ctx, lv)
}

// deactivateLV deactivates lv (loop activation needs its segments).
func (g *VG) deactivateLV(ctx context.Context, lv LV) error {
	if g.activation == ActivationLoop {
		return g.detachLoop(ctx, lv)
	}
	if _, err := g.run(ctx, "lvchange", "-an", g.name+"/"+lv.Name); err != nil {
		return fmt.Errorf("deactivate %s/%s: %w", g.name, lv.Name, err)
	}
	return nil
}

func roundUp(n, unit int64) int64 {
	if unit <= 0 {
		return n
	}
	return (n + unit - 1) / unit * unit
}
