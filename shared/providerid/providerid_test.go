package providerid

import "testing"

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
