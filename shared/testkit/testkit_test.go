package testkit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure instead of stopping the
// test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
	for _, a := range args {
		r.failed += " " + toString(a)
	}
}

func (r *recorder) Errorf(format string, args ...any) { r.Fatalf(format, args...) }

func toString(a any) string {
	switch v := a.(type) {
	case string:
		return v
	case error:
		return v.Error()
	case time.Duration:
		return v.String()
	}
	return ""
}

func TestEventually(t *testing.T) {
	n := 0
	tests := []struct {
		name     string
		run      func(tb testing.TB)
		wantFail string
	}{
		{name: "bool reached", run: func(tb testing.TB) {
			EventuallyWithin(tb, time.Second, "x", func() bool { n++; return n > 2 })
		}},
		{name: "bool never", run: func(tb testing.TB) { EventuallyWithin(tb, 300*time.Millisecond, "never", func() bool { return false }) },
			wantFail: "never"},
		{name: "message kept", run: func(tb testing.TB) {
			EventuallyWithin(tb, 300*time.Millisecond, "state", func() (bool, string) { return false, "phase Pending" })
		}, wantFail: "phase Pending"},
		{name: "error kept", run: func(tb testing.TB) {
			EventuallyWithin(tb, 300*time.Millisecond, "obj", func() error { return errors.New("not found") })
		}, wantFail: "not found"},
		{name: "error nil", run: func(tb testing.TB) { Eventually(tb, "obj", func() error { return nil }) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			tt.run(r)
			if tt.wantFail == "" && r.failed != "" {
				t.Fatalf("failed: %s", r.failed)
			}
			if tt.wantFail != "" && !strings.Contains(r.failed, tt.wantFail) {
				t.Fatalf("failure %q does not mention %q", r.failed, tt.wantFail)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "out.txt")
	r := &recorder{TB: t}
	Golden(r, path, []byte("a"))
	if !strings.Contains(r.failed, "-update") {
		t.Fatalf("missing golden file: failure %q does not say -update", r.failed)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = &recorder{TB: t}
	Golden(r, path, []byte("a"))
	if r.failed != "" {
		t.Fatalf("equal output failed: %s", r.failed)
	}
	Golden(r, path, []byte("b"))
	if !strings.Contains(r.failed, "differs") || !strings.Contains(r.failed, "- a\n+ b") {
		t.Fatalf("different output: failure %q", r.failed)
	}
}

func TestFirstDiff(t *testing.T) {
	tests := []struct{ name, want, got, diff string }{
		{name: "second line", want: "a\nb\nc", got: "a\nx\nc", diff: "line 2:\n- b\n+ x"},
		{name: "got longer", want: "a", got: "a\nb", diff: "line 2:\n- \n+ b"},
		{name: "equal", want: "a", got: "a", diff: "(no line differs)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := FirstDiff([]byte(tt.want), []byte(tt.got)); d != tt.diff {
				t.Errorf("FirstDiff = %q, want %q", d, tt.diff)
			}
		})
	}
}
