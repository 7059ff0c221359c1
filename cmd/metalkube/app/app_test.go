package app

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"metalkube", "version"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"metalkube dev", "commit: ", "go: go1."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output %q lacks %q", out.String(), want)
		}
	}
}

func TestDispatchByName(t *testing.T) {
	root := NewRootCommand(context.Background())
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "plain subcommand", args: []string{"/usr/bin/metalkube", "version"}, want: []string{"version"}},
		{name: "multicall link", args: []string{"/usr/bin/metalkube-version", "--help"}, want: []string{"version", "--help"}},
		{name: "unknown link name", args: []string{"metalkube-nope", "x"}, want: []string{"x"}},
		{name: "no args", args: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dispatch(root, tt.args)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("dispatch(%q) = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestBadLogFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"metalkube", "--log-format=xml", "version"}, &out, &errb); code == 0 {
		t.Fatal("want failure for --log-format=xml")
	}
	if !strings.Contains(errb.String(), `--log-format="xml"`) {
		t.Errorf("error %q does not name the flag and value", errb.String())
	}
}

func TestCompletion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"metalkube", "completion", "bash"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "__start_metalkube") {
		t.Errorf("bash completion lacks the start function")
	}
}
