package main

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/server"
)

// allowAll is the baseline: the smallest useful ext_authz server, which
// answers every Check with an OK and nothing else.
type allowAll struct {
	authv3.UnimplementedAuthorizationServer
}

func (allowAll) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
	}, nil
}

// runTrivial serves allowAll until ctx is done. It prints "listening ADDR"
// on stdout once bound, which the harness waits for.
func runTrivial(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadtest trivial", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	profile := fs.String("cpuprofile", "", "write a CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *profile != "" {
		stop, err := startProfile(*profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	s := grpc.NewServer()
	authv3.RegisterAuthorizationServer(s, allowAll{})
	fmt.Printf("listening %s\n", lis.Addr())
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	if err := s.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// runInProcess serves edgeauthz from the library, exactly as `edgeauthz
// serve --config` does, while writing a CPU profile of the whole process.
func runInProcess(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadtest edgeauthz", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "server configuration file")
	profile := fs.String("cpuprofile", "", "write a CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.LoadServer(*cfgPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if *profile != "" {
		stop, err := startProfile(*profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	return srv.Run(ctx)
}

// startProfile starts a CPU profile into path; stop ends it.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// verifyOnly is the baseline for a new token on every request: it takes the
// bearer token, verifies its RS256 signature with the key of its kid
// through the same jwx verifier edgeauthz uses (jws.NewVerifier, strict
// base64url), and answers OK without reading a claim, caching or building
// headers. A request without a valid signature is denied.
type verifyOnly struct {
	authv3.UnimplementedAuthorizationServer
	keys     map[string]*rsa.PublicKey // by kid
	verifier jws.Verifier
	b64      *base64.Encoding
}

func (s *verifyOnly) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	raw, ok := strings.CutPrefix(req.GetAttributes().GetRequest().GetHttp().GetHeaders()["authorization"], "Bearer ")
	if ok && s.verify(raw) {
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
		}, nil
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized}}},
	}, nil
}

func (s *verifyOnly) verify(raw string) bool {
	dot1 := strings.IndexByte(raw, '.')
	dot2 := strings.LastIndexByte(raw, '.')
	if dot1 <= 0 || dot2 <= dot1 {
		return false
	}
	hdr, err := s.b64.DecodeString(raw[:dot1])
	if err != nil {
		return false
	}
	var h struct{ Alg, Kid string }
	if json.Unmarshal(hdr, &h) != nil || h.Alg != "RS256" {
		return false
	}
	pub, ok := s.keys[h.Kid]
	if !ok {
		return false
	}
	sig, err := s.b64.DecodeString(raw[dot2+1:])
	if err != nil {
		return false
	}
	return s.verifier.Verify([]byte(raw[:dot2]), sig, pub) == nil
}

// runVerifyOnly serves verifyOnly with the RSA keys of a JWKS file until ctx
// is done, printing "listening ADDR" like runTrivial.
func runVerifyOnly(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadtest verify-rs256", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	jwksPath := fs.String("jwks", "", "JWKS file with the RSA public keys")
	profile := fs.String("cpuprofile", "", "write a CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*jwksPath)
	if err != nil {
		return err
	}
	set, err := jwk.Parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", *jwksPath, err)
	}
	v, err := jws.NewVerifier(jwa.RS256)
	if err != nil {
		return err
	}
	s := &verifyOnly{keys: map[string]*rsa.PublicKey{}, verifier: v, b64: base64.RawURLEncoding.Strict()}
	for i := range set.Len() {
		k, _ := set.Key(i)
		var pub rsa.PublicKey
		if k.Raw(&pub) == nil {
			s.keys[k.KeyID()] = &pub
		}
	}
	if len(s.keys) == 0 {
		return fmt.Errorf("%s: no RSA key", *jwksPath)
	}
	if *profile != "" {
		stop, err := startProfile(*profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, s)
	fmt.Printf("listening %s\n", lis.Addr())
	go func() {
		<-ctx.Done()
		gs.Stop()
	}()
	if err := gs.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
