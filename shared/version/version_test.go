package version

import "testing"

func TestTag(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0.1.0", "0.1.0"},
		{"0.1.0-dev.3+g3ea4cb0", "0.1.0-dev.3_g3ea4cb0"},
		{"dev", "dev"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := Tag(tc.in); got != tc.want {
				t.Errorf("Tag(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
