// Package server assembles a running edgeauthz from its configuration: the
// policy loader, the token verifier, the authorizer, the gRPC and HTTP
// listeners, metrics and logs. It owns every goroutine it starts; Run returns
// once they have all stopped.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/authzen"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/extauthz"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/tracing"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// Server is one edgeauthz instance.
type Server struct {
	cfg      *config.Server
	log      *slog.Logger
	reg      *prometheus.Registry
	engine   *decision.Engine
	loader   *policysync.Loader
	source   policysync.Source
	verifier *identity.Verifier
	authn    *authn.Authenticator // shared by the edge and the AuthZEN API
	authz    *extauthz.Authorizer
	authzen  http.Handler // nil unless enabled
	declog   *extauthz.DecisionLog
	logFile  io.Closer

	grpcLis, httpLis net.Listener
	grpcSrv          *grpc.Server
	httpSrv          *http.Server
	health           *health.Server
	waiting          *waiters

	tracer   *tracing.Tracer // nil: tracing off
	adminLis net.Listener    // nil: admin listener off
	adminSrv *http.Server
	level    *slog.LevelVar

	shadow shadowParts // zero: no shadow policy
}

// New builds a server and binds its listeners (so that a port in use is an
// error here, not later). Nothing runs until Run.
func New(ctx context.Context, cfg *config.Server, log *slog.Logger) (_ *Server, err error) {
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.engine = decision.NewEngine(cfg.Policy.MaxStaleness)

	if s.source, err = NewSource(cfg, log.With("component", "store")); err != nil {
		return nil, err
	}
	var persistKey []byte
	if cfg.Policy.PersistKeyFile != "" {
		if persistKey, err = policysync.ReadPersistKey(cfg.Policy.PersistKeyFile); err != nil {
			return nil, fmt.Errorf("policy.persist_key_file: %w", err)
		}
	}
	s.loader = policysync.NewLoader(policysync.LoaderOptions{
		Source:       s.source,
		Engine:       s.engine,
		Compile:      PackageCompiler(cfg, log.With("component", "sync"), s.reg),
		PollInterval: cfg.Policy.PollInterval,
		PersistDir:   cfg.Policy.PersistDir,
		PersistKey:   persistKey,
		Origin:       Origin(cfg),
		Logger:       log.With("component", "sync"),
		Registerer:   s.reg,
	})

	if len(cfg.Tokens.Issuers) > 0 {
		icfg, err := config.IdentityConfig(cfg)
		if err != nil {
			return nil, err
		}
		refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeauthz_jwks_refreshes_total",
			Help: "JWKS fetches by issuer and result.",
		}, []string{"issuer", "result"})
		s.reg.MustRegister(refreshes)
		if icfg.HTTPClient, err = jwksHTTPClient(cfg.Tokens.Issuers, log); err != nil {
			return nil, err
		}
		icfg.Logger = log.With("component", "identity")
		icfg.OnRefresh = func(issuer string, err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			refreshes.WithLabelValues(issuer, result).Inc()
		}
		if s.verifier, err = identity.New(ctx, icfg); err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
	} else {
		log.Warn("no token issuers are configured: every token is refused, only public routes allow")
	}

	if s.declog, s.logFile, err = decisionLog(cfg.DecisionLog, s.reg, log); err != nil {
		return nil, err
	}
	aopts := authn.Options{
		Extractor:  config.Extractor(cfg),
		Claims:     cfg.Tokens.Claims,
		CacheBytes: int64(cfg.Cache.TokensBytes),
	}
	if s.verifier != nil {
		aopts.Verifier = s.verifier
	}
	s.authn = authn.New(aopts)
	opts := extauthz.Options{
		Engine:             s.engine,
		Authn:              s.authn,
		Headers:            cfg.Headers,
		DecisionCacheBytes: int64(cfg.Cache.DecisionsBytes),
		Log:                s.declog,
		Metrics:            extauthz.NewMetrics(s.reg),
	}
	if opts.Shadow, err = s.newShadow(); err != nil {
		return nil, err
	}
	if s.tracer, err = newTracer(ctx, cfg.Tracing, log); err != nil {
		return nil, err
	}
	opts.Tracer = s.tracer
	s.authz = extauthz.NewAuthorizer(opts)
	if s.authzen, err = s.authzenHandler(); err != nil {
		return nil, err
	}

	// Stream workers reuse goroutines whose stacks have already grown, rather
	// than starting (and growing) a fresh goroutine for every Check. A worker
	// is busy while its Check waits for the request's body too, so one per
	// core leaves most Checks to fresh goroutines: keep enough for the
	// requests in flight (grpc starts a goroutine beyond them).
	s.waiting = newWaiters(cfg.Limits.GRPC.MaxWaitingStreams, cfg.Limits.GRPC.MessageWait, s.reg)
	tlsCfg, err := listenerTLS(cfg.Listen.TLS, log.With("tls", "listen.tls"))
	if err != nil {
		return nil, err
	}
	gopts := append(grpcOptions(cfg.Limits.GRPC, s.waiting), grpc.NumStreamWorkers(uint32(max(64, 16*runtime.GOMAXPROCS(0)))))
	if tlsCfg != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	s.grpcSrv = grpc.NewServer(gopts...)
	extauthz.NewGRPC(s.authz).Register(s.grpcSrv)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpcSrv, readiness{Server: s.health, s: s})
	reflection.Register(s.grpcSrv)
	s.httpSrv = httpServer(cfg.Limits.HTTP, s.httpHandler())
	s.httpSrv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	if cfg.Listen.GRPC != "" {
		if s.grpcLis, err = net.Listen("tcp", cfg.Listen.GRPC); err != nil {
			return nil, fmt.Errorf("listen grpc: %w", err)
		}
		s.grpcLis = limitListener(s.grpcLis, cfg.Limits.GRPC.MaxConnections)
	}
	if cfg.Listen.HTTP != "" {
		if s.httpLis, err = net.Listen("tcp", cfg.Listen.HTTP); err != nil {
			return nil, fmt.Errorf("listen http: %w", err)
		}
		s.httpLis = limitListener(s.httpLis, cfg.Limits.HTTP.MaxConnections)
		if tlsCfg != nil {
			// net/http runs the handshake within ReadHeaderTimeout.
			s.httpLis = tls.NewListener(s.httpLis, tlsCfg)
		}
	}
	if err := s.bindAdmin(); err != nil {
		return nil, err
	}
	return s, nil
}

// GRPCAddr and HTTPAddr return the bound addresses (useful with port 0).
func (s *Server) GRPCAddr() string { return addr(s.grpcLis) }

// HTTPAddr returns the bound HTTP address.
func (s *Server) HTTPAddr() string { return addr(s.httpLis) }

func addr(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Engine returns the decision engine (for tests and embedding).
func (s *Server) Engine() *decision.Engine { return s.engine }

// Reload asks the loader to fetch the policy now (SIGHUP).
func (s *Server) Reload() { s.loader.Reload() }

// Run serves until ctx is done, then stops gracefully: listeners close, and
// requests in flight finish (up to 10 s).
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	loaderDone := make(chan struct{})
	go func() {
		defer close(loaderDone)
		_ = s.loader.Run(ctx)
	}()
	shadowDone := s.runShadow(ctx)
	// The sweeper outlives ctx until the gRPC server has stopped: a graceful
	// stop waits for streams, stalled ones included.
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSweep()
	sweeperDone := make(chan struct{})
	go func() {
		defer close(sweeperDone)
		s.waiting.run(sweepCtx)
	}()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if s.grpcLis != nil {
		go func() { errc <- s.grpcSrv.Serve(s.grpcLis) }()
	}
	if s.httpLis != nil {
		go func() {
			if err := s.httpSrv.Serve(s.httpLis); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
	}
	s.serveAdmin(errc)
	s.log.Info("serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "admin", s.AdminAddr(), "policy", redactSource(s.cfg.Policy.Source))
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		s.log.Error("listener failed", "err", runErr)
	}
	s.health.Shutdown()
	stopCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()
	done := make(chan struct{})
	go func() {
		s.grpcSrv.GracefulStop()
		close(done)
	}()
	s.shutdownAdmin(stopCtx)
	if err := s.httpSrv.Shutdown(stopCtx); err != nil {
		// Requests still running past the deadline: close their connections
		// rather than leave them to use what close releases below.
		_ = s.httpSrv.Close()
	}
	select {
	case <-done:
	case <-stopCtx.Done():
		s.grpcSrv.Stop()
		<-done // GracefulStop returns once Stop has closed every stream
	}
	stopSweep()
	cancel()
	<-loaderDone
	<-shadowDone
	<-sweeperDone
	s.log.Info("stopped")
	return runErr
}

// readiness answers grpc.health.v1 Check as /readyz answers: SERVING only
// while the server is ready (see notReady). Envoy's grpc_health_check and
// Kubernetes gRPC probes use Check, so an edge with no policy yet is not sent
// traffic it could only deny with 503. Watch and List come from the embedded
// server, which reports the process's state.
type readiness struct {
	*health.Server
	s *Server
}

func (r readiness) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	res, err := r.Server.Check(ctx, req)
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return res, err
	}
	if why, _ := r.s.notReady(); why != "" {
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}, nil
	}
	return res, nil
}

// notReady says why the server should not be sent traffic, or "" when it is
// ready: a snapshot serves (loaded, and not too stale) and, when
// readiness.require_issuer_keys is set, every issuer can verify tokens.
// revision is the serving snapshot's when ready.
func (s *Server) notReady() (why, revision string) {
	if _, res, ok := s.engine.Acquire(); !ok {
		msg := res.Reason.Message()
		if _, lastErr := s.loader.Status(); lastErr != nil {
			msg += ": " + lastErr.Error()
		}
		return msg, ""
	}
	if s.cfg.Readiness.RequireIssuerKeys && s.verifier != nil {
		if none := s.verifier.IssuersWithoutKeys(); len(none) > 0 {
			return "no usable signing keys yet for issuer " + strings.Join(none, ", ") +
				" (its tokens would all be refused; readiness.require_issuer_keys)", ""
		}
	}
	snap, _ := s.engine.Snapshot()
	return "", snap.Revision()
}

func (s *Server) close() {
	if s.grpcSrv != nil {
		s.grpcSrv.Stop() // idempotent; ends the stream workers when Run never ran
	}
	if s.authz != nil {
		s.authz.Close()
	}
	if s.authn != nil {
		s.authn.Close()
	}
	if s.declog != nil {
		_ = s.declog.Close()
	}
	s.shadow.close()
	if s.tracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.tracer.Shutdown(ctx) // exports the spans still batched
		cancel()
	}
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
	if s.verifier != nil {
		_ = s.verifier.Close()
	}
	if s.source != nil {
		_ = s.source.Close()
	}
	for _, l := range []net.Listener{s.grpcLis, s.httpLis, s.adminLis} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// httpHandler routes the HTTP port. It does not use http.ServeMux for the
// authz prefix: ServeMux would clean and redirect the very paths edgeauthz
// must judge as they are.
func (s *Server) httpHandler() http.Handler {
	authz := extauthz.NewHTTPHandler(s.authz, s.cfg.Listen.AuthzPrefix)
	metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
	prefix := strings.TrimSuffix(s.cfg.Listen.AuthzPrefix, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.RequestURI == prefix || strings.HasPrefix(r.RequestURI, prefix+"/") || strings.HasPrefix(r.RequestURI, prefix+"?"):
			authz.ServeHTTP(w, r)
		case s.authzen != nil && authzen.Handles(r.URL.Path):
			s.authzen.ServeHTTP(w, r)
		case r.URL.Path == "/healthz":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok\n")
		case r.URL.Path == "/readyz":
			s.ready(w)
		case r.URL.Path == "/metrics":
			metrics.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// ready answers 200 when the server is ready (see notReady), else 503 with
// the reason.
func (s *Server) ready(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	why, rev := s.notReady()
	if why != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, why+"\n")
		return
	}
	_, _ = io.WriteString(w, "ready "+rev+"\n")
}
