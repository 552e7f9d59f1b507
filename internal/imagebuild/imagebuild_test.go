package imagebuild_test

import (
	"archive/tar"
	"debug/buildinfo"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/edgeauthz/edgeauthz/internal/imagebuild"
)

// buildStatic builds cmd/edgeauthz as make image does: static, for Linux, with
// the version stamped in.
func buildStatic(t *testing.T, version string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the image is for Linux; the test runs the binary from it")
	}
	out := filepath.Join(t.TempDir(), "edgeauthz")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version,
		"-o", out, "github.com/edgeauthz/edgeauthz/cmd/edgeauthz")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func configDigest(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func digest(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestImageRunsVersion writes the image tarball, reads it back as docker load
// would (manifest.json, config, layers), checks its configuration, unpacks the
// binary and runs `edgeauthz version` from it.
func TestImageRunsVersion(t *testing.T) {
	const version = "9.8.7-test"
	bin := buildStatic(t, version)
	img, err := imagebuild.Build(bin, imagebuild.Options{Version: version})
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	tagName := imagebuild.Repository + ":" + version
	if err := imagebuild.WriteTarball(tarPath, tagName, img); err != nil {
		t.Fatal(err)
	}
	again, err := imagebuild.Build(bin, imagebuild.Options{Version: version})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := digest(t, img), digest(t, again); a != b {
		t.Errorf("two builds of one binary: %s and %s, want one digest (reproducible)", a, b)
	}

	tag, err := name.NewTag(tagName)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(tarPath) })
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, []string{tagName}) {
		t.Fatalf("manifest.json %+v: want one image tagged %s", manifest, tagName)
	}
	loaded, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatal(err)
	}
	// Digests, diff IDs, sizes and the config's rootfs agree with the blobs, as a
	// registry or docker load checks them.
	if err := validate.Image(loaded); err != nil {
		t.Errorf("image read back from the tarball: %v", err)
	}
	// The tarball keeps the config and the layers byte for byte (docker load
	// rebuilds the manifest from them).
	if a, b := configDigest(t, img), configDigest(t, loaded); a != b {
		t.Errorf("config digest after reload %s, built %s", b, a)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want OCI", mt)
	}

	cf, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (numeric: there is no /etc/passwd)", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{imagebuild.BinaryPath}) {
		t.Errorf("entrypoint %q, want %s", c.Entrypoint, imagebuild.BinaryPath)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if c.Labels["org.opencontainers.image.version"] != version {
		t.Errorf("labels %v: no version %s", c.Labels, version)
	}
	for _, p := range []string{"9191/tcp", "8181/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed", p)
		}
	}

	layers, err := loaded.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	root := t.TempDir()
	var files []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, h.Name)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Uid != 0 || h.Mode&0o022 != 0 {
			t.Errorf("%s: uid %d mode %o: the binary must not be writable by the user it runs as", h.Name, h.Uid, h.Mode)
		}
		dst := filepath.Join(root, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, os.FileMode(h.Mode))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if want := []string{"usr/", "usr/local/", "usr/local/bin/", "tmp/", "usr/local/bin/edgeauthz"}; !slices.Equal(files, want) {
		t.Errorf("layer holds %q, want only %q", files, want)
	}

	// No /etc/ssl in the image: the binary must carry its own CA roots.
	unpacked := filepath.Join(root, filepath.FromSlash(imagebuild.BinaryPath[1:]))
	info, err := buildinfo.ReadFile(unpacked)
	if err != nil {
		t.Fatal(err)
	}
	roots := false
	for _, d := range info.Deps {
		roots = roots || d.Path == "golang.org/x/crypto/x509roots/fallback"
	}
	if !roots {
		t.Errorf("the binary does not link golang.org/x/crypto/x509roots/fallback: HTTPS would fail in the image")
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" && s.Value != "0" {
			t.Errorf("built with CGO_ENABLED=%s", s.Value)
		}
	}

	out, err := exec.Command(unpacked, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("edgeauthz version from the image: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "edgeauthz "+version {
		t.Errorf("edgeauthz version printed %q, want %q", got, "edgeauthz "+version)
	}
}

// TestDynamicBinaryRefused: a binary that needs ld-linux would not start in an
// image without one.
func TestDynamicBinaryRefused(t *testing.T) {
	for _, p := range []string{"/bin/sh", "/usr/bin/env"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if _, err := imagebuild.Build(p, imagebuild.Options{}); !errors.Is(err, imagebuild.ErrNotStatic) {
			t.Errorf("Build(%s): %v, want ErrNotStatic", p, err)
		}
		return
	}
	t.Skip("no dynamically linked system binary found")
}
