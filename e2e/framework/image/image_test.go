package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestMetalkube builds the metalkube image from a stand-in binary and reads
// the archive back: the Dockerfile's layout (binary, user, entrypoint), a
// home the user owns, the tag, and the same ID for the same files.
func TestMetalkube(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "metalkube")
	if err := os.WriteFile(binary, []byte("#!stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const ref = "ghcr.io/metalkube/metalkube:v1.2.3"
	out := filepath.Join(dir, "image.tar")
	id, err := Write(Metalkube(binary, ref), out)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := Write(Metalkube(binary, ref), filepath.Join(dir, "again.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if id != id2 {
		t.Errorf("same files, two IDs: %s, %s", id, id2)
	}
	tags, err := Tags(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1 || tags[0] != ref {
		t.Errorf("tags %v, want [%s]", tags, ref)
	}
	cf, files := readImage(t, out)
	if cf.Config.User != "65532:65532" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/usr/local/bin/metalkube" {
		t.Errorf("config user %q entrypoint %v, want 65532:65532 [/usr/local/bin/metalkube]", cf.Config.User, cf.Config.Entrypoint)
	}
	if got := cf.Config.Labels["org.opencontainers.image.version"]; got != "v1.2.3" {
		t.Errorf("version label %q, want v1.2.3", got)
	}
	for _, tc := range []struct {
		path  string
		mode  int64
		owner int
	}{
		{"/usr/local/bin/metalkube", 0o755, 0},
		{"/etc/passwd", 0o644, 0},
		{"/tmp", 0o1777, 0},
		{"/home/nonroot", 0o700, NonRoot},
	} {
		t.Run(tc.path, func(t *testing.T) {
			h, ok := files[tc.path]
			if !ok {
				t.Fatalf("missing; have %v", len(files))
			}
			if h.Mode&0o7777 != tc.mode || h.Uid != tc.owner || h.Gid != tc.owner {
				t.Errorf("mode %o owner %d:%d, want %o %d:%d", h.Mode, h.Uid, h.Gid, tc.mode, tc.owner, tc.owner)
			}
		})
	}
}

// TestBinary: a peer's image holds its binary at the path its Deployment
// runs, as its entrypoint, non-root.
func TestBinary(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "peer")
	if err := os.WriteFile(binary, []byte("#!stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	if _, err := Write(Binary(binary, "/machine-controller-manager", "machine-controller-manager:e2e"), out); err != nil {
		t.Fatal(err)
	}
	cf, files := readImage(t, out)
	if cf.Config.User != "65532:65532" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/machine-controller-manager" {
		t.Errorf("config user %q entrypoint %v, want 65532:65532 [/machine-controller-manager]", cf.Config.User, cf.Config.Entrypoint)
	}
	if h, ok := files["/machine-controller-manager"]; !ok || h.Mode&0o777 != 0o755 {
		t.Errorf("no executable /machine-controller-manager in the image (%v)", h)
	}
}

// readImage returns the config of the image in a `docker save` archive and
// its files' headers by absolute path.
func readImage(t *testing.T, archive string) (*v1.ConfigFile, map[string]*tar.Header) {
	t.Helper()
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*tar.Header{}
	r := mutate.Extract(img)
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimSuffix(h.Name, "/")] = h
	}
	return cf, files
}

// TestWriteErrors: a relative path or a bad reference is refused, naming it.
func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"relative file", Spec{Ref: "x.local/a:1", Files: []File{{Path: "etc/passwd"}}}, `"etc/passwd"`},
		{"relative dir", Spec{Ref: "x.local/a:1", Dirs: []Dir{{Path: "tmp"}}}, `"tmp"`},
		{"bad reference", Spec{Ref: "UPPER/case:1"}, `"UPPER/case:1"`},
		{"missing source", Spec{Ref: "x.local/a:1", Files: []File{{Path: "/x", Source: filepath.Join(dir, "nope")}}}, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Write(tc.spec, filepath.Join(dir, "out.tar"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
