package machines

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestMergeIgnition(t *testing.T) {
	base := `{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/a","contents":{"source":"data:,<<MACHINE_NAME>>"}},{"path":"/etc/b"}]},"systemd":{"units":[{"name":"kubelet.service","enabled":true}]}}`
	tests := []struct {
		name    string
		base    string
		extra   string
		want    string
		wantErr string
	}{
		{
			name:  "replaces by key and appends",
			base:  base,
			extra: `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/b","mode":420},{"path":"/etc/c"}]},"systemd":{"units":[{"name":"extra.service"}]}}`,
			want:  `{"ignition":{"version":"3.5.0"},"storage":{"files":[{"contents":{"source":"data:,<<MACHINE_NAME>>"},"path":"/etc/a"},{"mode":420,"path":"/etc/b"},{"path":"/etc/c"}]},"systemd":{"units":[{"enabled":true,"name":"kubelet.service"},{"name":"extra.service"}]}}`,
		},
		{name: "adds a new section", base: `{"ignition":{"version":"3.5.0"}}`, extra: `{"passwd":{"users":[{"name":"core"}]}}`,
			want: `{"ignition":{"version":"3.5.0"},"passwd":{"users":[{"name":"core"}]}}`},
		{name: "cloud-init base", base: "#cloud-config\n", extra: `{}`, wantErr: "not Ignition"},
		{name: "extra not JSON", base: base, extra: `nope`, wantErr: "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergeIgnition([]byte(tt.base), []byte(tt.extra))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tt.want), &w)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
