package app

import (
	"os"
	"path/filepath"
	"testing"
)

func TestProvidedCertificate(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  bool
	}{
		{name: "certificate and key", files: []string{"tls.crt", "tls.key"}, want: true},
		{name: "certificate only", files: []string{"tls.crt"}},
		{name: "empty directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := providedCertificate(dir); got != tt.want {
				t.Fatalf("providedCertificate = %v, want %v", got, tt.want)
			}
		})
	}
	if providedCertificate("") {
		t.Fatal("an unset directory counts as provided")
	}
}
