package lvm

import (
	"reflect"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want bool
	}{
		{"pvc name", "pvc-0a1b2c3d-4e5f", true},
		{"dots and plus", "a.b+c_d", true},
		{"empty", "", false},
		{"leading dash", "-x", false},
		{"dot", ".", false},
		{"slash", "a/b", false},
		{"space", "a b", false},
		{"too long", string(make([]byte, 128)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidName(tc.in); got != tc.want {
				t.Errorf("ValidName(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseRanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []Segment
		wantErr bool
	}{
		{"one", "/dev/loop3:0-7", []Segment{{PV: "/dev/loop3", Start: 0, End: 7}}, false},
		{"two", "/dev/sda:8-11 /dev/sdb:0-3", []Segment{{"/dev/sda", 8, 11}, {"/dev/sdb", 0, 3}}, false},
		{"empty", "", nil, false},
		{"no colon", "/dev/sda", nil, true},
		{"no dash", "/dev/sda:7", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRanges(tc.in)
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseRanges(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
