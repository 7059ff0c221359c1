package framework

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RepoRoot returns the directory holding go.work above the working directory.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.work above %s", wd)
		}
	}
}

// BinaryEnv names a metalkube binary to use instead of building one (`make
// test` builds bin/metalkube first and sets it).
const BinaryEnv = "METALKUBE_BINARY"

// BuildMetalkube returns $METALKUBE_BINARY if set, else builds the multicall
// binary into bin/ of the repository (the Go build cache makes this quick when
// nothing changed) and returns its path.
func BuildMetalkube() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %w", BinaryEnv, err)
		}
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(root, "bin", "metalkube")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/metalkube")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build metalkube: %w\n%s", err, b)
	}
	return out, nil
}

// BuildMCM builds machine-controller-manager's core controller from its module
// (cached per version by components/mcm/hack/mcm-binary.sh) and returns its path.
func BuildMCM() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(root, "components", "mcm", "hack", "mcm-binary.sh"))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build machine-controller-manager: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
