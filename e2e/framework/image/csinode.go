package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CSINodeTools are the programs `metalkube csi --role=node` runs (lvm2,
// util-linux, e2fsprogs, xfsprogs): the Dockerfile's csi-node stage
// installs their Debian packages.
var CSINodeTools = []string{"lvm", "losetup", "blkid", "mount", "umount", "mkfs.ext4", "e2fsck", "resize2fs", "dumpe2fs", "mkfs.xfs", "xfs_growfs"}

// CSINode is the csi node plugin's image, tagged ref: the metalkube binary
// as in Metalkube, and CSINodeTools as this machine's Debian packages
// installed them, with their shared libraries (ldd's closure) where the
// dynamic loader looks and lvm2's configuration, run as root (the chart's
// node DaemonSet; the Dockerfile's csi-node stage has the same programs).
// It fails naming the first tool this machine lacks.
func CSINode(binary, ref string) (Spec, error) {
	spec := Metalkube(binary, ref)
	spec.User = "0:0"
	spec.Env = []string{"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GODEBUG=netdns=go"}
	seen := map[string]bool{}
	add := func(path, src string) error {
		if seen[path] {
			return nil
		}
		real, err := filepath.EvalSymlinks(src)
		if err != nil {
			return err
		}
		seen[path] = true
		spec.Files = append(spec.Files, File{Path: path, Mode: 0o755, Source: real})
		return nil
	}
	for _, tool := range CSINodeTools {
		p, err := exec.LookPath(tool)
		if err != nil {
			return Spec{}, fmt.Errorf("csi node image: %s is not installed (make deps installs lvm2, xfsprogs and e2fsprogs): %w", tool, err)
		}
		if err := add("/usr/sbin/"+tool, p); err != nil {
			return Spec{}, fmt.Errorf("csi node image: %s: %w", tool, err)
		}
		out, err := exec.Command("ldd", p).Output()
		if err != nil {
			return Spec{}, fmt.Errorf("csi node image: ldd %s: %w", p, err)
		}
		for _, lib := range libraries(string(out)) {
			if err := add(lib[0], lib[1]); err != nil {
				return Spec{}, fmt.Errorf("csi node image: %s: %w", tool, err)
			}
		}
	}
	const lvmConf = "/etc/lvm/lvm.conf"
	if _, err := os.Stat(lvmConf); err != nil {
		return Spec{}, fmt.Errorf("csi node image: %w", err)
	}
	spec.Files = append(spec.Files, File{Path: lvmConf, Mode: 0o644, Source: lvmConf})
	// lvm2's directories; the chart mounts backup, archive and the locks.
	spec.Dirs = append(spec.Dirs, Dir{Path: "/etc/lvm/backup", Mode: 0o700}, Dir{Path: "/etc/lvm/archive", Mode: 0o700}, Dir{Path: "/run/lock/lvm", Mode: 0o700})
	return spec, nil
}

// libraries parses ldd's output into [path in the image, file here] pairs:
// each library under its soname in /lib/x86_64-linux-gnu (the loader's
// directory when there is no cache), the loader at its own path.
func libraries(ldd string) [][2]string {
	var libs [][2]string
	for _, line := range strings.Split(ldd, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, [2]string{"/lib/x86_64-linux-gnu/" + f[0], f[2]})
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, [2]string{f[0], f[0]})
		}
	}
	return libs
}
