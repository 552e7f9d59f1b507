package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"time"
)

// SetLevelVar hands the server the variable its logger's level reads, so
// that the admin listener's /loglevel can change it at run time. Call it
// before Run; without it /loglevel answers 404.
func (s *Server) SetLevelVar(v *slog.LevelVar) { s.level = v }

// AdminAddr returns the bound admin address, "" when it is off.
func (s *Server) AdminAddr() string { return addr(s.adminLis) }

// bindAdmin opens the admin listener when admin.listen is set.
func (s *Server) bindAdmin() error {
	a := s.cfg.Admin.Addr()
	if a == "" {
		return nil
	}
	l, err := net.Listen("tcp", a)
	if err != nil {
		return fmt.Errorf("listen admin: %w", err)
	}
	s.adminLis = l
	s.adminSrv = &http.Server{
		Handler:           s.adminHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A CPU profile or an execution trace runs for ?seconds= (30 by
		// default) before the first byte is written.
		WriteTimeout: 5 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// serveAdmin runs the admin listener, if any, until shutdownAdmin.
func (s *Server) serveAdmin(errc chan<- error) {
	if s.adminLis == nil {
		return
	}
	go func() {
		if err := s.adminSrv.Serve(s.adminLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
}

func (s *Server) shutdownAdmin(ctx context.Context) {
	if s.adminSrv == nil {
		return
	}
	if err := s.adminSrv.Shutdown(ctx); err != nil {
		_ = s.adminSrv.Close() // a profile still running
	}
}

// adminHandler serves the operator's endpoints on a mux of its own: the
// pprof handlers are never reachable from the HTTP port (nor from
// http.DefaultServeMux, which edgeauthz never serves).
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /loglevel", s.getLevel)
	mux.HandleFunc("PUT /loglevel", s.putLevel)
	mux.HandleFunc("GET /snapshot", s.snapshotSummary)
	mux.HandleFunc("GET /shadow", s.shadowSummary)
	return mux
}

func (s *Server) getLevel(w http.ResponseWriter, _ *http.Request) {
	if s.level == nil {
		http.Error(w, "the log level is fixed in this process", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, strings.ToLower(s.level.Level().String())+"\n")
}

// putLevel sets the level from the body: debug, info, warn or error (or
// slog's offsets such as info+2).
func (s *Server) putLevel(w http.ResponseWriter, r *http.Request) {
	if s.level == nil {
		http.Error(w, "the log level is fixed in this process", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.TrimSpace(string(body)))); err != nil {
		http.Error(w, "log level: use debug, info, warn or error", http.StatusBadRequest)
		return
	}
	old := s.level.Level()
	s.level.Set(lvl)
	s.log.Warn("log level changed", "from", old.String(), "to", lvl.String(), "by", r.RemoteAddr)
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, strings.ToLower(lvl.String())+"\n")
}

// SnapshotSummary is what GET /snapshot on the admin listener answers.
type SnapshotSummary struct {
	Loaded   bool   `json:"loaded"`
	Revision string `json:"revision,omitempty"`
	// Source is policy.source with any password removed.
	Source      string    `json:"source"`
	LoadedAt    time.Time `json:"loaded_at,omitzero"`
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
	// AgeSeconds is the time since the store last confirmed the snapshot.
	AgeSeconds float64 `json:"age_seconds,omitempty"`
	Routes     int     `json:"routes"`
	Tuples     int     `json:"tuples"`
	LastError  string  `json:"last_error,omitempty"`
}

func (s *Server) snapshotSummary(w http.ResponseWriter, _ *http.Request) {
	sum := SnapshotSummary{Source: redactSource(s.cfg.Policy.Source)}
	loadedAt, lastErr := s.loader.Status()
	if lastErr != nil {
		sum.LastError = lastErr.Error()
	}
	if snap, at := s.engine.Snapshot(); snap != nil {
		sum.Loaded = true
		sum.Revision = snap.Revision()
		sum.LoadedAt, sum.ConfirmedAt = loadedAt, at
		sum.AgeSeconds = time.Since(at).Seconds()
		sum.Routes = snap.RouteCount()
		sum.Tuples, _ = snap.RelationStats()
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(sum)
}

// redactSource hides a password in a store URL: postgres://user:pw@host,
// or libpq's ?password= (and sslpassword=) in its query.
func redactSource(src string) string {
	u, err := url.Parse(src)
	if err != nil {
		// Several relay addresses (xds://a:1,b:2) do not parse as one
		// URL; only a source that could carry credentials is hidden.
		if strings.Contains(src, "@") || strings.Contains(strings.ToLower(src), "password") {
			return "(unparseable source)"
		}
		return src
	}
	if q := u.Query(); len(q) > 0 {
		hidden := false
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
				hidden = true
			}
		}
		if hidden {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}
