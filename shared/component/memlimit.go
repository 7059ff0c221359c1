package component

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// CgroupRoot is where the cgroup file system is mounted in a container.
const CgroupRoot = "/sys/fs/cgroup"

// Files that hold a container's memory limit, in the order they are tried:
// cgroup v2 (the pod's own cgroup namespace) and cgroup v1's memory
// controller.
var memoryLimitFiles = []string{
	"memory.max",
	filepath.Join("memory", "memory.limit_in_bytes"),
}

// MemoryLimitShare is the part of the container's memory limit the Go
// runtime aims to stay under; the rest is for what the runtime does not count
// (the binary's mapped pages, thread stacks).
const MemoryLimitShare = 0.9

// unlimited is the smallest cgroup v1 limit that means no limit (the kernel
// reports "no limit" as the largest page-aligned int64).
const unlimited = math.MaxInt64 / 2

// SetMemoryLimit gives the Go runtime a soft memory limit of
// MemoryLimitShare of the container's memory limit, read from the cgroup
// file system under root (normally /sys/fs/cgroup), so that the garbage
// collector works harder before the kernel kills the container. $GOMEMLIMIT,
// when set, wins and is left to the runtime. It returns the limit it set, or
// 0 when it set none.
func SetMemoryLimit(root string) (int64, error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	limit, err := containerMemoryLimit(root)
	if err != nil || limit == 0 {
		return 0, err
	}
	soft := int64(float64(limit) * MemoryLimitShare)
	debug.SetMemoryLimit(soft)
	return soft, nil
}

// containerMemoryLimit reads the memory limit under root; 0 means none.
func containerMemoryLimit(root string) (int64, error) {
	for _, f := range memoryLimitFiles {
		p := filepath.Join(root, f)
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read memory limit: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("memory limit %s: %q: %w", p, v, err)
		}
		if n <= 0 || n >= unlimited {
			return 0, nil
		}
		return n, nil
	}
	return 0, nil
}
