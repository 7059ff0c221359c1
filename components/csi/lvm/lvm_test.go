package lvm

import (
	"errors"
	"reflect"
	"strings"
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

// TestCreateArgs: the lvcreate command line of each layout, in both
// activations; device-mapper's (dm) cannot run on a kernel without it, so
// this is where its striped and mirrored volumes are checked.
func TestCreateArgs(t *testing.T) {
	base := []string{"lvcreate", "-y", "-n", "pvc-1", "-L", "33554432b", "--addtag", TagPending}
	dm := []string{"-Wy", "-Zy", "vg0"}
	loop := []string{"-an", "-Zn", "--alloc", "contiguous", "vg0"}
	join := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		layout  Layout
		act     Activation
		pvs     int
		want    []string
		wantErr string
	}{
		{name: "linear, dm", layout: Layout{Type: LayoutLinear}, act: ActivationDM, pvs: 1, want: join(base, []string{"--type", "linear"}, dm)},
		{name: "default is linear", layout: Layout{}, act: ActivationDM, pvs: 2, want: join(base, []string{"--type", "linear"}, dm)},
		{name: "linear, loop", layout: Layout{Type: LayoutLinear}, act: ActivationLoop, pvs: 2, want: join(base, []string{"--type", "linear"}, loop)},
		{name: "striped over every disk", layout: Layout{Type: LayoutStriped}, act: ActivationDM, pvs: 3, want: join(base, []string{"--type", "striped", "-i", "3"}, dm)},
		{name: "striped, two of three disks", layout: Layout{Type: LayoutStriped, Stripes: 2}, act: ActivationDM, pvs: 3, want: join(base, []string{"--type", "striped", "-i", "2"}, dm)},
		{name: "mirror, one copy", layout: Layout{Type: LayoutMirror}, act: ActivationDM, pvs: 2, want: join(base, []string{"--type", "raid1", "-m", "1"}, dm)},
		{name: "mirror, two copies", layout: Layout{Type: LayoutMirror, Mirrors: 2}, act: ActivationDM, pvs: 3, want: join(base, []string{"--type", "raid1", "-m", "2"}, dm)},
		{name: "striped on one disk", layout: Layout{Type: LayoutStriped}, act: ActivationDM, pvs: 1, wantErr: "1 legs need as many physical volumes (at least 2), the volume group has 1"},
		{name: "more stripes than disks", layout: Layout{Type: LayoutStriped, Stripes: 4}, act: ActivationDM, pvs: 3, wantErr: "4 legs"},
		{name: "mirror on one disk", layout: Layout{Type: LayoutMirror}, act: ActivationDM, pvs: 1, wantErr: "2 legs need as many physical volumes"},
		{name: "striped, loop", layout: Layout{Type: LayoutStriped}, act: ActivationLoop, pvs: 3, wantErr: "striped volumes: they need device-mapper"},
		{name: "mirror, loop", layout: Layout{Type: LayoutMirror}, act: ActivationLoop, pvs: 3, wantErr: "mirror volumes: they need device-mapper"},
		{name: "unknown type", layout: Layout{Type: "raid5"}, act: ActivationDM, pvs: 3, wantErr: `unknown type "raid5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := createArgs("vg0", "pvc-1", 32<<20, tc.layout, tc.act, tc.pvs)
			if tc.wantErr != "" {
				var le *LayoutError
				if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a *LayoutError with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("createArgs = %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

func TestCopies(t *testing.T) {
	for _, tc := range []struct {
		l    Layout
		want int64
	}{{Layout{}, 1}, {Layout{Type: LayoutStriped, Stripes: 3}, 1}, {Layout{Type: LayoutMirror}, 2}, {Layout{Type: LayoutMirror, Mirrors: 2}, 3}} {
		if got := tc.l.Copies(); got != tc.want {
			t.Errorf("%+v.Copies() = %d, want %d", tc.l, got, tc.want)
		}
	}
}
