package component

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
)

// TestRetriesAsInfo: upstream errors that only say "retried" become info
// lines marked retried; real errors stay errors.
func TestRetriesAsInfo(t *testing.T) {
	var lines []string
	base := funcr.New(func(prefix, args string) { lines = append(lines, prefix+" "+args) }, funcr.Options{})
	log := retriesAsInfo(base).WithName("mcm").WithValues("machine", "m-1")
	log.Error(nil, `failed to update labels and providerID for machine "m-1". err="machine creation in process. Machine labels/annotations update is successful"`)
	log.Error(errors.New(`Operation cannot be fulfilled on nodes "n": the object has been modified; please apply your changes to the latest version and try again`), "Update failed")
	log.Error(errors.New("connection refused"), "Update failed")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, l := range lines[:2] {
		if !strings.Contains(l, `"retried"=true`) || !strings.Contains(l, `"level"=0`) {
			t.Errorf("line %d: want an info line marked retried: %s", i, l)
		}
		if !strings.Contains(l, `"machine"="m-1"`) || !strings.Contains(l, "mcm") {
			t.Errorf("line %d lost its name or values: %s", i, l)
		}
	}
	if strings.Contains(lines[2], "retried") || !strings.Contains(lines[2], "connection refused") || strings.Contains(lines[2], `"level"=0`) {
		t.Errorf("a real error changed: %s", lines[2])
	}
}
