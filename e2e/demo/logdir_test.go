package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrepareLogDir: a second demo in the same logs directory starts from
// an empty one (the first run's webhook certificates, signed by a CA that is
// gone, made the control-plane webhook fail), and a directory that is not a
// demo's is refused, not emptied.
func TestPrepareLogDir(t *testing.T) {
	write := func(t *testing.T, p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("missing is created", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "logs")
		if err := prepareLogDir(dir); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("%s not created: %v", dir, err)
		}
	})
	t.Run("an earlier demo's is emptied", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, ProgressLog))
		write(t, filepath.Join(dir, "webhook-certs", "tls.crt"))
		if err := prepareLogDir(dir); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("%d entries left, want none", len(entries))
		}
	})
	t.Run("someone else's is refused and kept", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "notes.txt"))
		err := prepareLogDir(dir)
		if err == nil || !strings.Contains(err.Error(), "--logs") {
			t.Fatalf("error %v, want one naming --logs", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
			t.Fatalf("notes.txt gone: %v", err)
		}
	})
}
