// Command imagebuild writes edgeauthz's container image as a tarball that
// `docker load` and `podman load` read (make image). It needs no container
// daemon and downloads nothing.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/edgeauthz/edgeauthz/internal/imagebuild"
)

func main() {
	bin := flag.String("bin", "", "the static edgeauthz binary (CGO_ENABLED=0, GOOS=linux)")
	out := flag.String("out", "bin/edgeauthz-image.tar", "the tarball to write")
	version := flag.String("version", "dev", "the image tag and version label")
	arch := flag.String("arch", runtime.GOARCH, "the GOARCH the binary was built for")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "usage: imagebuild -bin FILE [-out TAR] [-version V] [-arch GOARCH]")
		os.Exit(2)
	}

	tag := imagebuild.Repository + ":" + *version
	img, err := imagebuild.Build(*bin, imagebuild.Options{Version: *version, Arch: *arch})
	if err == nil {
		err = imagebuild.WriteTarball(*out, tag, img)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	digest, err := img.Digest()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s: %s (%s); load it with docker load -i %s\n", *out, tag, digest, *out)
}
