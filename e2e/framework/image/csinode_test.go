package image

import (
	"os/exec"
	"slices"
	"testing"
)

// TestLibraries parses ldd's lines: libraries under their soname in the
// loader's directory, the loader at its own path, the vDSO and
// statically linked programs left out.
func TestLibraries(t *testing.T) {
	for _, tc := range []struct {
		name, ldd string
		want      [][2]string
	}{
		{name: "dynamic", ldd: "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibudev.so.1 => /lib/x86_64-linux-gnu/libudev.so.1 (0x00007f)\n\tlibc.so.6 => /usr/lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n",
			want: [][2]string{
				{"/lib/x86_64-linux-gnu/libudev.so.1", "/lib/x86_64-linux-gnu/libudev.so.1"},
				{"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"},
				{"/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"},
			}},
		{name: "static", ldd: "\tnot a dynamic executable\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := libraries(tc.ldd); !slices.Equal(got, tc.want) {
				t.Errorf("libraries: %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCSINode: the node plugin's image holds the binary, every tool the
// driver runs with the libraries ldd names, and lvm2's configuration, and
// runs as root.
func TestCSINode(t *testing.T) {
	for _, tool := range CSINodeTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs lvm2, xfsprogs and e2fsprogs)", tool)
		}
	}
	spec, err := CSINode("/bin/true", "metalkube.local/metalkube-csi-node:v1")
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, f := range spec.Files {
		paths[f.Path] = true
	}
	want := []string{"/usr/local/bin/metalkube", "/etc/lvm/lvm.conf", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"}
	for _, tool := range CSINodeTools {
		want = append(want, "/usr/sbin/"+tool)
	}
	for _, p := range want {
		if !paths[p] {
			t.Errorf("no %s in the image", p)
		}
	}
	if spec.User != "0:0" {
		t.Errorf("user %q, want 0:0", spec.User)
	}
}
