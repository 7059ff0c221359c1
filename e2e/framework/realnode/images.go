package realnode

import (
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/metalkube/metalkube/e2e/framework/image"
)

// Images are the archives `make image` writes and the metalkube image's
// reference.
type Images struct {
	Metalkube, Pause string
	// MetalkubeRef is the metalkube image's repository:tag.
	MetalkubeRef string
}

// BuildImages runs `make image` in the repository root (the binary's build
// is cached by Go) and returns the archives.
func BuildImages(root string) (Images, error) {
	cmd := exec.Command("make", "-s", "image")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return Images{}, fmt.Errorf("make image: %w\n%s", err, out)
	}
	imgs := Images{
		Metalkube: filepath.Join(root, "bin", "metalkube-image.tar"),
		Pause:     filepath.Join(root, "bin", "pause-image.tar"),
	}
	tags, err := image.Tags(imgs.Metalkube)
	if err != nil {
		return Images{}, err
	}
	if len(tags) != 1 {
		return Images{}, fmt.Errorf("%s: want one tag, have %v", imgs.Metalkube, tags)
	}
	imgs.MetalkubeRef = tags[0]
	return imgs, nil
}
