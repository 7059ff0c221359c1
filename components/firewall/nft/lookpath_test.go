package nft_test

import (
	"os/exec"
	"sort"
	"strings"
)

func netnsLookPath(name string) (string, error) { return exec.LookPath(name) }

// canonical normalizes `nft list table` output so that two listings of the
// same ruleset compare equal whatever order objects and elements were added
// in: objects are sorted, elements sorted, rule order kept.
func canonical(listing string) string {
	var blocks []string
	listing = strings.TrimSuffix(strings.TrimSpace(listing), "}")
	for _, b := range strings.Split(listing, "\n\n") {
		lines := strings.Split(strings.TrimSpace(b), "\n")
		var out, elems []string
		inElems := false
		for _, l := range lines {
			l = strings.TrimSpace(l)
			if rest, ok := strings.CutPrefix(l, "elements = {"); ok {
				inElems = true
				l = rest
			}
			if inElems {
				end := strings.HasSuffix(l, "}")
				l = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(l, "}"), ","))
				if l != "" {
					elems = append(elems, l)
				}
				if end {
					inElems = false
				}
				continue
			}
			out = append(out, l)
		}
		sort.Strings(elems)
		blocks = append(blocks, strings.Join(append(out, elems...), "\n"))
	}
	sort.Strings(blocks)
	return strings.Join(blocks, "\n\n")
}
