package component

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestContainerMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		want    int64
		wantErr string
	}{
		{name: "v2 limit", files: map[string]string{"memory.max": "268435456\n"}, want: 268435456},
		{name: "v2 no limit", files: map[string]string{"memory.max": "max\n"}},
		{name: "v1 limit", files: map[string]string{"memory/memory.limit_in_bytes": "134217728\n"}, want: 134217728},
		{name: "v1 no limit", files: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}},
		{name: "v2 wins over v1", files: map[string]string{"memory.max": "1000", "memory/memory.limit_in_bytes": "2000"}, want: 1000},
		{name: "no cgroup files"},
		{name: "garbage", files: map[string]string{"memory.max": "lots"}, wantErr: `"lots"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for p, c := range tc.files {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := containerMemoryLimit(root)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestSetMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "memory.max"), []byte("200000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := SetMemoryLimit(root)
	if err != nil {
		t.Fatal(err)
	}
	if got != 180000000 || debug.SetMemoryLimit(-1) != 180000000 {
		t.Errorf("soft limit %d (runtime %d), want 180000000", got, debug.SetMemoryLimit(-1))
	}
	t.Setenv("GOMEMLIMIT", "100MiB")
	debug.SetMemoryLimit(prev)
	if got, err := SetMemoryLimit(root); got != 0 || err != nil || debug.SetMemoryLimit(-1) != prev {
		t.Errorf("with $GOMEMLIMIT set: %d, %v, runtime limit %d; want it left alone", got, err, debug.SetMemoryLimit(-1))
	}
}
