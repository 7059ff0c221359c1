package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/metalkube/metalkube/e2e/framework/image"
)

const (
	flagBinary = "binary"
	flagRef    = "ref"
	flagOut    = "out"
	flagPause  = "pause"
)

func main() {
	binary := flag.String(flagBinary, "", "the static binary the image runs (required)")
	ref := flag.String(flagRef, "", "the metalkube image's reference, repository:tag with the binary's version as the tag (required for it)")
	out := flag.String(flagOut, "", "the archive to write (required)")
	pause := flag.Bool(flagPause, false, "build the pause image instead of the metalkube image")
	flag.Parse()
	if err := run(*binary, *ref, *out, *pause); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(binary, ref, out string, pause bool) error {
	if binary == "" {
		return fmt.Errorf("-%s is required", flagBinary)
	}
	if out == "" {
		return fmt.Errorf("-%s is required", flagOut)
	}
	var spec image.Spec
	switch {
	case pause:
		spec = image.Pause(binary)
	case ref == "":
		return fmt.Errorf("-%s is required", flagRef)
	default:
		spec = image.Metalkube(binary, ref)
	}
	id, err := image.Write(spec, out)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", spec.Ref, id, out)
	return nil
}
