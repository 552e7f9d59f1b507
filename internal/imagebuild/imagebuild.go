package imagebuild

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// Repository is the image name the Kubernetes manifests and the Helm chart use.
	Repository = "ghcr.io/edgeauthz/edgeauthz"
	// BinaryPath is where the binary is in the image; it is the entrypoint.
	BinaryPath = "/usr/local/bin/edgeauthz"
	// User is the numeric user and group the process runs as. The image has no
	// /etc/passwd, so it must be numeric; Kubernetes' runAsNonRoot can check it.
	User = "65532:65532"
)

// ErrNotStatic is returned for a binary that needs a dynamic loader, which
// the image does not have.
var ErrNotStatic = errors.New("binary is not statically linked")

// Options describe the image.
type Options struct {
	// Version goes into the org.opencontainers.image.version label.
	Version string
	// Arch is the GOARCH the binary was built for; default runtime.GOARCH.
	Arch string
	// Created is the image's creation time and every file's time; the zero
	// value is the Unix epoch, so builds are reproducible.
	Created time.Time
}

// Build makes the image from the binary at binPath.
func Build(binPath string, opts Options) (v1.Image, error) {
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	if err := checkStatic(bin); err != nil {
		return nil, fmt.Errorf("imagebuild: %s: %w", binPath, err)
	}
	if opts.Arch == "" {
		opts.Arch = runtime.GOARCH
	}
	if opts.Created.IsZero() {
		opts.Created = time.Unix(0, 0)
	}
	opts.Created = opts.Created.UTC()

	layerTar, err := layerContent(bin, opts.Created)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: layer: %w", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("imagebuild: layer: %w", err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: opts.Created},
			CreatedBy: "edgeauthz imagebuild",
			Comment:   "the static edgeauthz binary",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = opts.Arch
	cf.Created = v1.Time{Time: opts.Created}
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"serve"},
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/bin"},
		ExposedPorts: map[string]struct{}{
			"9191/tcp": {}, // gRPC ext_authz
			"8181/tcp": {}, // HTTP ext_authz, health, metrics
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "edgeauthz",
			"org.opencontainers.image.source":  "https://github.com/edgeauthz/edgeauthz",
			"org.opencontainers.image.version": opts.Version,
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	return img, nil
}

// WriteTarball saves img tagged as tag (e.g. ghcr.io/edgeauthz/edgeauthz:0.1.0)
// to path, in the layout `docker load` and `podman load` read.
func WriteTarball(path, tag string, img v1.Image) error {
	t, err := name.NewTag(tag, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("imagebuild: tag: %w", err)
	}
	if err := tarball.WriteToFile(path, t, img); err != nil {
		return fmt.Errorf("imagebuild: %w", err)
	}
	return nil
}

// layerContent is the layer's tar: directories first, then the binary.
func layerContent(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []struct {
		name string
		mode int64
	}{
		{"usr/", 0o755}, {"usr/local/", 0o755}, {"usr/local/bin/", 0o755},
		// Go's os.TempDir; Kubernetes mounts an emptyDir over it when the
		// root filesystem is read-only.
		{"tmp/", 0o1777},
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode,
			ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: BinaryPath[1:], Mode: 0o755,
		Size: int64(len(bin)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkStatic refuses an ELF binary that asks for a program interpreter
// (ld-linux): the image has none, and the container would fail with a
// confusing "no such file or directory".
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not a Linux (ELF) binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w (build it with CGO_ENABLED=0)", ErrNotStatic)
		}
	}
	return nil
}
