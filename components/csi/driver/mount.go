package driver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// mounter runs mount(8), umount(8), blkid(8), mkfs.* and the resize tools.
type mounter struct{}

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	Target, FSType, Source string
}

// mounted returns the mount at target, if any (the last one mounted there).
func (mounter) mounted(target string) (mountInfo, bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return mountInfo{}, false, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var found mountInfo
	ok := false
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		pre, post, cut := strings.Cut(s.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !cut || len(fields) < 5 || len(tail) < 2 {
			continue
		}
		if unescape(fields[4]) == target {
			found, ok = mountInfo{Target: target, FSType: tail[0], Source: unescape(tail[1])}, true
		}
	}
	if err := s.Err(); err != nil {
		return mountInfo{}, false, fmt.Errorf("read mounts: %w", err)
	}
	return found, ok, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fsOf returns the file system on dev; empty when it has none.
func (mounter) fsOf(ctx context.Context, dev string) (string, error) {
	out, err := exec.CommandContext(ctx, "blkid", "-p", "-s", "TYPE", "-o", "value", dev).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("blkid %s: %w", dev, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// format makes a file system of type fs on dev.
func (mounter) format(ctx context.Context, fs, dev string) error {
	switch fs {
	case "ext4":
		return run(ctx, "mkfs.ext4", "-q", "-F", "-m0", dev)
	case "xfs":
		return run(ctx, "mkfs.xfs", "-q", "-f", dev)
	}
	return fmt.Errorf("file system %q: want ext4 or xfs", fs)
}

// mount mounts source at target with fs type and options (fs "" for a bind).
func (mounter) mount(ctx context.Context, source, target, fs string, opts []string) error {
	args := []string{}
	if fs != "" {
		args = append(args, "-t", fs)
	}
	if len(opts) > 0 {
		args = append(args, "-o", strings.Join(opts, ","))
	}
	return run(ctx, "mount", append(args, source, target)...)
}

func (mounter) unmount(ctx context.Context, target string) error {
	return run(ctx, "umount", target)
}

// resize grows the file system mounted at target to its device's size.
func (mounter) resize(ctx context.Context, m mountInfo) error {
	switch m.FSType {
	case "ext4", "ext3", "ext2":
		fsSize, devSize, err := ext4Size(ctx, m.Source)
		if err != nil || fsSize >= devSize {
			return err
		}
		if err := run(ctx, "resize2fs", m.Source); err != nil {
			if strings.Contains(err.Error(), "Permission denied") {
				// The kernel's online ext4 resize checks CAP_SYS_RESOURCE.
				err = fmt.Errorf("online ext4 growth needs CAP_SYS_RESOURCE (the file system grows when the volume is staged next): %w", err)
			}
			return fmt.Errorf("grow %d bytes of ext4 to %d: %w", fsSize, devSize, err)
		}
		return nil
	case "xfs":
		return run(ctx, "xfs_growfs", m.Target)
	}
	return fmt.Errorf("file system %q at %s: cannot grow it", m.FSType, m.Target)
}

// ext4Size returns the size of the ext file system on dev and of dev, so that
// a file system made after the volume grew is not resized.
func ext4Size(ctx context.Context, dev string) (int64, int64, error) {
	out, err := exec.CommandContext(ctx, "dumpe2fs", "-h", dev).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("dumpe2fs -h %s: %w", dev, err)
	}
	var blocks, size int64
	for l := range strings.SplitSeq(string(out), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Block count":
			blocks, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		case "Block size":
			size, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if blocks == 0 || size == 0 {
		return 0, 0, fmt.Errorf("dumpe2fs -h %s: no block count or size", dev)
	}
	devSize, err := blockSize(dev)
	if err != nil {
		return 0, 0, err
	}
	return blocks * size, devSize / size * size, nil
}

// growOffline grows an unmounted ext file system on dev that is smaller than
// dev (the volume grew while it was not staged, or while online growth was
// refused). xfs grows only mounted; NodeExpandVolume does that.
func (mounter) growOffline(ctx context.Context, fs, dev string) (bool, error) {
	if fs != "ext4" {
		return false, nil
	}
	fsSize, devSize, err := ext4Size(ctx, dev)
	if err != nil || fsSize >= devSize {
		return false, err
	}
	// resize2fs wants a freshly checked file system; -p repairs only what
	// is safe without a person, and exit codes 1 and 2 mean it did.
	if err := run(ctx, "e2fsck", "-f", "-p", dev); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() > 2 {
			return false, err
		}
	}
	return true, run(ctx, "resize2fs", dev)
}
