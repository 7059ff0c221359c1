package realnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/metalkube/metalkube/e2e/framework/image"
	"github.com/metalkube/metalkube/e2e/framework/realnode"
)

// The images of the storage role besides the metalkube image: the csi node
// plugin's and the sidecars', under names no registry serves.
const (
	csiNodeRepo      = "metalkube.local/metalkube-csi-node"
	provisionerRef   = "metalkube.local/csi-provisioner:v6.3.0"
	resizerRef       = "metalkube.local/csi-resizer:v2.2.0"
	registrarRef     = "metalkube.local/csi-registrar:e2e"
	livenessProbeRef = "metalkube.local/csi-livenessprobe:e2e"
)

// StorageImages builds the storage role's images into root's bin/: the csi
// node plugin (the metalkube image's binary with lvm2 and the file system
// tools, image.CSINode), the external-provisioner and external-resizer
// (components/csi/hack/peers.sh, cached per version) and the stand-ins for
// node-driver-registrar and livenessprobe (e2e/cmd/csiregistrar,
// e2e/cmd/csilivenessprobe; the Go module proxy refuses the upstream
// modules). It returns the archives.
func StorageImages(root string, imgs realnode.Images) ([]string, error) {
	bin := filepath.Join(root, "bin")
	peers := exec.Command(filepath.Join(root, "components", "csi", "hack", "peers.sh"))
	peers.Dir = root
	if out, err := peers.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("components/csi/hack/peers.sh: %w\n%s", err, out)
	}
	for _, cmd := range []string{"csiregistrar", "csilivenessprobe"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, "image", cmd), "./e2e/cmd/"+cmd)
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", cmd, err, out)
		}
	}
	node, err := image.CSINode(filepath.Join(bin, "image", "metalkube"), csiNodeRepo+":"+imageTag(imgs.MetalkubeRef))
	if err != nil {
		return nil, err
	}
	specs := map[string]image.Spec{
		"csi-node":          node,
		"csi-provisioner":   image.Binary(filepath.Join(bin, "csi-provisioner"), "/csi-provisioner", provisionerRef),
		"csi-resizer":       image.Binary(filepath.Join(bin, "csi-resizer"), "/csi-resizer", resizerRef),
		"csi-registrar":     image.Binary(filepath.Join(bin, "image", "csiregistrar"), "/csi-node-driver-registrar", registrarRef),
		"csi-livenessprobe": image.Binary(filepath.Join(bin, "image", "csilivenessprobe"), "/livenessprobe", livenessProbeRef),
	}
	var archives []string
	for name, spec := range specs {
		out := filepath.Join(bin, name+"-image.tar")
		if _, err := image.Write(spec, out); err != nil {
			return nil, err
		}
		archives = append(archives, out)
	}
	return archives, nil
}

// imageTag is ref's tag.
func imageTag(ref string) string { return ref[strings.LastIndex(ref, ":")+1:] }

// StorageRole is the storage role: the csi driver (controller Deployment
// and node DaemonSet) on volume group vg of the disk device, in loop
// activation (this kernel has no device-mapper), with the images
// StorageImages builds and the node's kubelet directory.
func StorageRole(vg, device, kubeletDir string, imgs realnode.Images) Role {
	sidecar := func(ref string) map[string]any {
		repo, tag, _ := strings.Cut(ref, ":")
		return map[string]any{"repository": repo, "tag": tag}
	}
	return Role{Name: "storage", Values: map[string]any{"csi": map[string]any{
		"enabled": true, "volumeGroup": vg, "devices": []string{device}, "activation": "loop", "kubeletDir": kubeletDir,
		"node": map[string]any{"image": map[string]any{"repository": csiNodeRepo, "tag": imageTag(imgs.MetalkubeRef)}},
		"sidecars": map[string]any{
			"provisioner": sidecar(provisionerRef), "resizer": sidecar(resizerRef),
			"nodeDriverRegistrar": sidecar(registrarRef), "livenessProbe": sidecar(livenessProbeRef),
		},
	}}}
}
