package framework

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// Secret is a value no log may contain. Reports name it, never show it.
type Secret struct {
	Name  string
	Value []byte
}

// needles are the pieces of a value a log would carry, whatever it did to
// the value: the middle of its longest run of base64-alphabet characters
// (a PEM body line, a token, base64 user data: quoting and JSON escaping
// leave such runs intact) and the middle of the value's base64 encoding (a
// log printing the bytes, as a []byte field in JSON does). Runs shorter than
// minRun are too common to be evidence and are left out, unless they are
// the whole value.
func needles(v []byte) [][]byte {
	const minRun, window = 20, 32
	mid := func(b []byte) []byte {
		if len(b) <= window {
			return b
		}
		i := (len(b) - window) / 2
		return b[i : i+window]
	}
	var out [][]byte
	run := longestRun(v)
	if len(run) >= minRun || (len(run) == len(v) && len(v) >= 8) {
		out = append(out, mid(run))
	}
	if len(v) >= minRun {
		out = append(out, mid([]byte(base64.StdEncoding.EncodeToString(v))))
	}
	return out
}

func longestRun(v []byte) []byte {
	in := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/'
	}
	var best []byte
	for i := 0; i < len(v); {
		if !in(v[i]) {
			i++
			continue
		}
		j := i
		for j < len(v) && in(v[j]) {
			j++
		}
		if j-i > len(best) {
			best = v[i:j]
		}
		i = j
	}
	return best
}

// ScanLogs reads every file and returns an error naming each secret found
// in a file (in any of the forms needles describes); nil when none is.
func ScanLogs(files []string, secrets []Secret) error {
	var found []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("scan logs: %w", err)
		}
		for _, s := range secrets {
			for _, n := range needles(s.Value) {
				if bytes.Contains(data, n) {
					found = append(found, fmt.Sprintf("%s in %s", s.Name, file))
					break
				}
			}
		}
	}
	if len(found) > 0 {
		return fmt.Errorf("logs contain what they must not: %s", strings.Join(found, "; "))
	}
	return nil
}
