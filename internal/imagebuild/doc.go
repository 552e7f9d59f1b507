// Package imagebuild assembles edgeauthz's container image from a static
// binary, without a container daemon and without pulling a base image.
//
// The image is one layer: the binary at /usr/local/bin/edgeauthz and an empty,
// world-writable /tmp. It has no shell, no libc and no /etc/passwd: the binary
// is built with CGO_ENABLED=0 and carries its own CA roots
// (golang.org/x/crypto/x509roots/fallback), and the process runs as the numeric
// user 65532:65532. File times and the creation time are fixed, so the same
// binary always gives the same image digest.
//
// Build returns the image; WriteTarball saves it in the `docker save` layout
// that `docker load` and `podman load` read. The functions keep no state and
// are safe for concurrent use.
package imagebuild
