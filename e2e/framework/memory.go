package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Memory is what a process holds in RAM, as /proc reports it.
type Memory struct {
	// RSS is the resident set size (VmRSS): every mapped page in RAM.
	RSS int64
	// Anonymous is the process's own memory (RssAnon: heap, stacks,
	// written data): what no other process shares and the kernel cannot
	// drop without swap.
	Anonymous int64
	// File is the part of RSS that maps file pages (RssFile plus RssShmem,
	// a binary on tmpfs): for metalkube its one binary. The kernel maps a
	// page cache folio whole, so a file written in large folios (by the
	// linker, or by containerd unpacking an image) counts in 2 MB steps
	// however little of each folio the process touched.
	File int64
	// PSS is the proportional set size: shared pages divided among the
	// processes that map them.
	PSS int64
	// FilePMD is the part of File mapped as 2 MB huge pages (FilePmdMapped).
	FilePMD int64
}

// MemoryOf reads the memory of process pid from /proc/<pid>/status and
// /proc/<pid>/smaps_rollup.
func MemoryOf(pid int) (Memory, error) {
	var m Memory
	var shmem int64
	fields := map[string]map[string]*int64{
		"status":       {"VmRSS": &m.RSS, "RssAnon": &m.Anonymous, "RssFile": &m.File, "RssShmem": &shmem},
		"smaps_rollup": {"Pss": &m.PSS, "FilePmdMapped": &m.FilePMD},
	}
	for file, want := range fields {
		p := fmt.Sprintf("/proc/%d/%s", pid, file)
		b, err := os.ReadFile(p)
		if err != nil {
			return Memory{}, fmt.Errorf("memory of pid %d: %w", pid, err)
		}
		if err := parseKB(string(b), want); err != nil {
			return Memory{}, fmt.Errorf("%s: %w", p, err)
		}
	}
	m.File += shmem
	if m.RSS == 0 {
		return Memory{}, fmt.Errorf("pid %d: no VmRSS (a kernel thread or a zombie)", pid)
	}
	return m, nil
}

// parseKB fills want from "Key:   123 kB" lines of a /proc file.
func parseKB(text string, want map[string]*int64) error {
	for _, l := range strings.Split(text, "\n") {
		key, v, ok := strings.Cut(l, ":")
		dst, wanted := want[key]
		if !ok || !wanted {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return fmt.Errorf("%s %q: %w", key, v, err)
		}
		*dst = kb * 1024
	}
	return nil
}

// CgroupMemory is what the kernel charges a container's cgroup, the source
// of what Kubernetes shows an operator.
type CgroupMemory struct {
	// Usage is memory.current (v2) or memory.usage_in_bytes (v1): anonymous
	// memory plus the page cache charged to the cgroup.
	Usage int64
	// WorkingSet is Usage less the inactive file pages, as the kubelet
	// (cAdvisor) computes it for `kubectl top` and eviction.
	WorkingSet int64
	// Anonymous and File are the charged anonymous memory and page cache.
	Anonymous, File int64
	// MappedFile is the charged page cache that is mapped into a process.
	MappedFile int64
}

// CgroupMemoryOf reads the memory of the cgroup at dir, of either version.
func CgroupMemoryOf(dir string) (CgroupMemory, error) {
	var c CgroupMemory
	var inactive int64
	usageFile, stat := "memory.current", map[string]*int64{"anon": &c.Anonymous, "file": &c.File, "file_mapped": &c.MappedFile, "inactive_file": &inactive}
	if _, err := os.Stat(filepath.Join(dir, usageFile)); err != nil {
		usageFile, stat = "memory.usage_in_bytes", map[string]*int64{"total_rss": &c.Anonymous, "total_cache": &c.File, "total_mapped_file": &c.MappedFile, "total_inactive_file": &inactive}
	}
	b, err := os.ReadFile(filepath.Join(dir, usageFile))
	if err != nil {
		return c, fmt.Errorf("cgroup memory: %w", err)
	}
	if c.Usage, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
		return c, fmt.Errorf("cgroup memory %s/%s: %w", dir, usageFile, err)
	}
	b, err = os.ReadFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return c, fmt.Errorf("cgroup memory: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		key, v, ok := strings.Cut(l, " ")
		if dst := stat[key]; ok && dst != nil {
			if *dst, err = strconv.ParseInt(v, 10, 64); err != nil {
				return c, fmt.Errorf("cgroup memory %s/memory.stat %s %q: %w", dir, key, v, err)
			}
		}
	}
	c.WorkingSet = max(c.Usage-inactive, 0)
	return c, nil
}

// MemoryAtFirstOutput runs binary with args and reads its memory when it
// first writes to stdout or stderr: both are a pipe already full, so the
// process blocks there with all its start-up done (for `metalkube version`,
// package init and the command itself). The process is killed afterwards.
func MemoryAtFirstOutput(ctx context.Context, binary string, args ...string) (Memory, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return Memory{}, fmt.Errorf("pipe: %w", err)
	}
	defer func() { _ = r.Close(); _ = w.Close() }()
	fd := int(w.Fd()) // Fd puts the pipe in blocking mode: take it once
	if err := syscall.SetNonblock(fd, true); err != nil {
		return Memory{}, fmt.Errorf("pipe: %w", err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := syscall.Write(fd, chunk); errors.Is(err, syscall.EAGAIN) {
			break
		} else if err != nil {
			return Memory{}, fmt.Errorf("fill pipe: %w", err)
		}
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		return Memory{}, fmt.Errorf("pipe: %w", err)
	}
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return Memory{}, fmt.Errorf("start %s: %w", binary, err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Blocked in a write: one of its threads waits in the kernel's pipe
	// code (wchan pipe_write or pipe_wait_writable).
	for !writing(cmd.Process.Pid) {
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)); err != nil || exited(string(stat)) {
			return Memory{}, fmt.Errorf("%s exited before writing", binary)
		}
		select {
		case <-ctx.Done():
			return Memory{}, fmt.Errorf("%s never wrote: %w", binary, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return MemoryOf(cmd.Process.Pid)
}

// writing reports whether a thread of process pid waits to write to a pipe.
func writing(pid int) bool {
	chans, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
	for _, c := range chans {
		if b, err := os.ReadFile(c); err == nil && strings.Contains(string(b), "pipe") {
			return true
		}
	}
	return false
}

// exited reports whether a /proc/<pid>/stat line is of a process that has
// exited (a zombie, not yet waited for).
func exited(stat string) bool {
	i := strings.LastIndex(stat, ")") // the name may hold spaces and parentheses
	return i < 0 || strings.HasPrefix(stat[i+1:], " Z") || strings.HasPrefix(stat[i+1:], " X")
}

// MemoryRow is one line of a memory table: a process and, where it runs in
// a container, its cgroup.
type MemoryRow struct {
	Name   string
	Proc   Memory
	Cgroup *CgroupMemory
}

// WriteMemoryTable writes rows as a Markdown table in MB (2^20 bytes).
func WriteMemoryTable(out io.Writer, rows []MemoryRow) error {
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| process\t VmRSS\t RssAnon\t RssFile\t of it 2 MB-mapped\t Pss\t cgroup working set\t cgroup anon\t cgroup file\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	mb := func(v int64) string { return fmt.Sprintf(" %.1f", float64(v)/(1<<20)) }
	for _, r := range rows {
		cg := []string{" -", " -", " -"}
		if r.Cgroup != nil {
			cg = []string{mb(r.Cgroup.WorkingSet), mb(r.Cgroup.Anonymous), mb(r.Cgroup.File)}
		}
		fmt.Fprintf(tw, "| %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, mb(r.Proc.RSS), mb(r.Proc.Anonymous), mb(r.Proc.File), mb(r.Proc.FilePMD), mb(r.Proc.PSS), cg[0], cg[1], cg[2])
	}
	return tw.Flush()
}
