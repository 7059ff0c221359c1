package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// NonRoot is the user and group the metalkube image runs as (distroless'
// "nonroot").
const NonRoot = 65532

// epoch is every file's and the image's time stamp, so that the same files
// make the same image.
var epoch = time.Unix(0, 0).UTC()

// File is one file of an image.
type File struct {
	// Path in the image, absolute.
	Path string
	// Mode is the permission bits.
	Mode int64
	// Data is the content; Source, if set, is a file on this machine to
	// read it from instead.
	Data   []byte
	Source string
}

// Dir is an empty directory of an image.
type Dir struct {
	Path string
	// Mode is the permission bits (1777 for /tmp).
	Mode int64
	// Owner is the owning user and group ID.
	Owner int
}

// Spec describes an image built FROM scratch.
type Spec struct {
	// Ref is the image reference it is tagged with, e.g.
	// ghcr.io/metalkube/metalkube:v0.1.0.
	Ref string
	// Files are the image's files; their parent directories are added.
	Files []File
	// Dirs are empty directories to add.
	Dirs []Dir
	// User is the config's user ("65532:65532").
	User string
	// Entrypoint and Env of the config.
	Entrypoint []string
	Env        []string
	// Labels of the config.
	Labels map[string]string
}

// Write builds the image and writes it to out as a `docker save` archive.
// It returns the image ID (the config's digest), which is what a container
// runtime reports after importing it.
func Write(spec Spec, out string) (string, error) {
	ref, err := name.NewTag(spec.Ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", spec.Ref, err)
	}
	layer, err := layerOf(spec)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "metalkube e2e/framework/image"}})
	if err != nil {
		return "", fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.User = spec.User
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Env = spec.Env
	cf.Config.Labels = spec.Labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	// A name of its own: `go test ./...` builds the images in parallel
	// packages; the rename replaces the archive in one step.
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return "", fmt.Errorf("write image %s to %s: %w", spec.Ref, out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("write image %s: %w", spec.Ref, err)
	}
	return id.String(), nil
}

// layerOf writes the spec's files into one gzipped layer, in a fixed order
// with fixed time stamps and owners.
func layerOf(spec Spec) (v1.Layer, error) {
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	entries := map[string]entry{}
	addDirs := func(p string) {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}}
			}
		}
	}
	for _, d := range spec.Dirs {
		if !path.IsAbs(d.Path) {
			return nil, fmt.Errorf("directory %q: not an absolute path", d.Path)
		}
		addDirs(d.Path)
		entries[d.Path] = entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d.Path, "/") + "/", Mode: d.Mode, Uid: d.Owner, Gid: d.Owner, ModTime: epoch}}
	}
	for _, f := range spec.Files {
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("file %q: not an absolute path", f.Path)
		}
		data := f.Data
		if f.Source != "" {
			b, err := os.ReadFile(f.Source)
			if err != nil {
				return nil, fmt.Errorf("file %s: %w", f.Path, err)
			}
			data = b
		}
		addDirs(f.Path)
		entries[f.Path] = entry{hdr: &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode, Size: int64(len(data)), ModTime: epoch}, data: data}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := entries[n]
		e.hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithCompressionLevel(gzip.BestSpeed))
}

// Metalkube is the metalkube image, tagged ref: the static multicall binary at
// /usr/local/bin/metalkube as the entrypoint, run as 65532:65532, with a
// passwd and group entry for that user, a writable /tmp and, where this
// machine has one, the CA bundle (the layout of the Dockerfile's distroless
// base that the binary uses).
func Metalkube(binary, ref string) Spec {
	version := ref[strings.LastIndex(ref, ":")+1:]
	files := []File{
		{Path: "/usr/local/bin/metalkube", Mode: 0o755, Source: binary},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnonroot:x:65532:\n")},
	}
	const bundle = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(bundle); err == nil {
		files = append(files, File{Path: bundle, Mode: 0o644, Source: bundle})
	}
	return Spec{
		Ref:   ref,
		Files: files,
		// The user's home belongs to it, as in distroless: client-go looks
		// for ~/.kube/config and fails on a home it may not enter.
		Dirs:       []Dir{{Path: "/tmp", Mode: 0o1777}, {Path: "/home/nonroot", Mode: 0o700, Owner: NonRoot}},
		User:       fmt.Sprintf("%d:%d", NonRoot, NonRoot),
		Entrypoint: []string{"/usr/local/bin/metalkube"},
		// The binary is linked statically with glibc: the Go resolver, not
		// glibc's, which would need shared libraries the image lacks.
		Env:    []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GODEBUG=netdns=go"},
		Labels: map[string]string{"org.opencontainers.image.version": version, "org.opencontainers.image.source": "https://github.com/metalkube/metalkube"},
	}
}

// PauseRef is the pause image's reference: a name no registry serves, so
// that nothing tries to pull it.
const PauseRef = "metalkube.local/pause:1"

// Pause is the pod sandbox image: the static binary of cmd/pause as /pause,
// run as 65535.
func Pause(binary string) Spec {
	return Spec{
		Ref:        PauseRef,
		Files:      []File{{Path: "/pause", Mode: 0o755, Source: binary}},
		User:       "65535:65535",
		Entrypoint: []string{"/pause"},
	}
}

// Tags returns the tags of the images in a `docker save` archive.
func Tags(archive string) ([]string, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(archive) })
	if err != nil {
		return nil, fmt.Errorf("image archive %s: %w", archive, err)
	}
	var tags []string
	for _, d := range m {
		tags = append(tags, d.RepoTags...)
	}
	return tags, nil
}
