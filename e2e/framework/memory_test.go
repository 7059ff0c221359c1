package framework

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMemoryOf(t *testing.T) {
	m, err := MemoryOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS < 1<<20 || m.Anonymous <= 0 || m.Anonymous > m.RSS || m.File <= 0 || m.Anonymous+m.File > m.RSS || m.PSS <= 0 || m.FilePMD > m.File {
		t.Errorf("memory of this process = %+v, want 0 < anonymous, file; anonymous + file <= RSS >= 1 MiB; 2 MB-mapped <= file", m)
	}
}

// TestMemoryAtFirstOutput measures a process blocked on its first write:
// it must be alive then (its memory readable), whatever it does later.
func TestMemoryAtFirstOutput(t *testing.T) {
	sh, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary itself, asked to list its tests, writes at once.
	m, err := MemoryAtFirstOutput(t.Context(), sh, "-test.list=.")
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS < 1<<20 || m.Anonymous <= 0 {
		t.Errorf("memory at first output = %+v, want RSS >= 1 MiB and some anonymous memory", m)
	}
	if _, err := MemoryAtFirstOutput(t.Context(), "/bin/true"); err == nil || !strings.Contains(err.Error(), "exited before writing") {
		t.Errorf("a process that never writes: err = %v, want exited before writing", err)
	}
}

func TestCgroupMemoryOf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  CgroupMemory
	}{
		{"v2", map[string]string{
			"memory.current": "1000\n",
			"memory.stat":    "anon 600\nfile 400\nfile_mapped 300\ninactive_file 150\nactive_file 250\n",
		}, CgroupMemory{Usage: 1000, WorkingSet: 850, Anonymous: 600, File: 400, MappedFile: 300}},
		{"v1", map[string]string{
			"memory.usage_in_bytes": "2000\n",
			"memory.stat":           "cache 1\nrss 2\ntotal_cache 900\ntotal_rss 1100\ntotal_mapped_file 800\ntotal_inactive_file 2500\n",
		}, CgroupMemory{Usage: 2000, WorkingSet: 0, Anonymous: 1100, File: 900, MappedFile: 800}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for f, c := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := CgroupMemoryOf(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("CgroupMemoryOf = %+v, want %+v", got, tc.want)
			}
		})
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "memory.current"), []byte("lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CgroupMemoryOf(dir); err == nil || !strings.Contains(err.Error(), "memory.current") {
		t.Errorf("bad memory.current: err = %v, want one naming the file", err)
	}
}
