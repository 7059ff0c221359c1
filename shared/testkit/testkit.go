package testkit

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Timeout is how long Eventually waits: long enough for a controller on a
// loaded 2-core machine, short enough that a broken test fails in time.
const Timeout = 30 * time.Second

// interval is how often a condition is checked.
const interval = 100 * time.Millisecond

// update is the one -update flag of a test binary that imports testkit.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Update reports whether the test binary runs with -update.
func Update() bool { return *update }

// Condition is what Eventually polls: a func returning whether the state is
// reached, the same with a message saying what was seen, or an error that is
// nil once it is reached.
type Condition interface {
	func() bool | func() (bool, string) | func() error
}

// Eventually polls cond until it holds, failing t with what and the last
// state seen after Timeout.
func Eventually[C Condition](t testing.TB, what string, cond C) {
	t.Helper()
	EventuallyWithin(t, Timeout, what, cond)
}

// EventuallyWithin is Eventually with another timeout.
func EventuallyWithin[C Condition](t testing.TB, timeout time.Duration, what string, cond C) {
	t.Helper()
	check := func() error {
		switch f := any(cond).(type) {
		case func() bool:
			if !f() {
				return errors.New("not reached")
			}
		case func() (bool, string):
			if ok, msg := f(); !ok {
				return errors.New(msg)
			}
		case func() error:
			return f()
		}
		return nil
	}
	var err error
	for deadline := time.Now().Add(timeout); ; time.Sleep(interval) {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %s: %v", what, timeout, err)
			return
		}
	}
}

// Golden compares got with the golden file at path (under testdata/), and
// reports the first line that differs; with -update it writes got there
// first.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (check, then run the test with -update to accept it): %s", path, FirstDiff(want, got))
	}
}

// FirstDiff shows the first line in which got differs from want.
func FirstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}
