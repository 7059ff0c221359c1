package component

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestGroupUpstreamFlags(t *testing.T) {
	root := &cobra.Command{Use: "metalkube"}
	root.PersistentFlags().String("log-level", "info", "shared by all")
	cmd := &cobra.Command{Use: "thing", Long: "Thing does one thing.", Example: "  metalkube thing --mine=1", Run: func(*cobra.Command, []string) {}}
	root.AddCommand(cmd)
	own := pflag.NewFlagSet("own", pflag.ContinueOnError)
	own.String("mine", "", "a flag of ours")
	up := pflag.NewFlagSet("up", pflag.ContinueOnError)
	up.String("theirs", "", "a flag of the library")
	up.String("secret-knob", "", "hidden")
	_ = up.MarkHidden("secret-knob")
	cmd.Flags().AddFlagSet(up)
	cmd.Flags().AddFlagSet(own)
	GroupUpstreamFlags(cmd, own, "Library flags")
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"thing", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	order := []string{"Thing does one thing.", "Usage:", "Examples:", "metalkube thing --mine=1", "Flags:", "--help", "--mine", "Library flags:", "--theirs", "Global Flags:", "--log-level"}
	at := 0
	for _, want := range order {
		i := strings.Index(s[at:], want)
		if i < 0 {
			t.Fatalf("help lacks %q after offset %d (want the order %q):\n%s", want, at, order, s)
		}
		at += i + len(want)
	}
	if strings.Contains(s, "secret-knob") {
		t.Errorf("help shows a hidden flag:\n%s", s)
	}
}
