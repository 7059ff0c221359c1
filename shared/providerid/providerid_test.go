package providerid

import (
	"fmt"
	"strings"
	"testing"
	"unicode"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ID
		wantErr bool
	}{
		{name: "metalkube and ironcore claim", in: "metal://shoot--dev--a/worker-1", want: ID{"shoot--dev--a", "worker-1"}},
		{name: "metal-stack with partition", in: "metal://fra-equ01/1d7f1b2e-0a3c-4b6e-9f0e-3a7b8c9d0e1f", want: ID{"fra-equ01", "1d7f1b2e-0a3c-4b6e-9f0e-3a7b8c9d0e1f"}},
		{name: "metal-stack empty host", in: "metal:///fra-equ01/abc", want: ID{"fra-equ01", "abc"}},
		{name: "wrong scheme", in: "aws:///eu-west-1a/i-123", wantErr: true},
		{name: "missing name", in: "metal://ns/", wantErr: true},
		{name: "missing scope", in: "metal:////name", wantErr: true},
		{name: "one part only", in: "metal://name", wantErr: true},
		{name: "too many parts", in: "metal://a/b/c", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "newline in name", in: "metal://ns/a\nINFO forged log line", wantErr: true},
		{name: "space in scope", in: "metal://n s/a", wantErr: true},
		{name: "invalid UTF-8", in: "metal://ns/\xff", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	id := New("ns", "claim-1")
	got, err := Parse(id.String())
	if err != nil || got != id {
		t.Fatalf("Parse(%q) = %+v, %v; want %+v", id.String(), got, err, id)
	}
	if id.String() != "metal://ns/claim-1" {
		t.Fatalf("String() = %q", id.String())
	}
}

// FuzzParse: whatever Parse accepts renders back to an ID that parses to the
// same parts, and holds no space or control character; whatever it refuses is
// named in the error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"metal://shoot--dev--a/worker-1", "metal:///fra-equ01/abc", "metal://a/b/c", "metal:////x", "aws:///x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Fatalf("error %q does not quote the input", err)
			}
			return
		}
		if strings.ContainsFunc(id.Scope+id.Name, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '/' }) {
			t.Fatalf("Parse(%q) accepted %+v", s, id)
		}
		back, err := Parse(id.String())
		if err != nil || back != id {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, id, id.String(), back, err)
		}
	})
}
