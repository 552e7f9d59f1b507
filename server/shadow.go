package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/extauthz"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// shadowParts are the shadow policy's own source, loader and engine, and the
// comparer the authorizer hands decisions to.
type shadowParts struct {
	source policysync.Source
	loader *policysync.Loader
	cmp    *extauthz.Shadow
}

// newShadow opens the shadow policy's store when shadow.source is set. Its
// loader keeps a snapshot of its own, as policy's does; its sync metrics
// carry the prefix shadow_ (edgeauthz_snapshot_info becomes
// shadow_edgeauthz_snapshot_info) so both can be told apart.
func (s *Server) newShadow() (*extauthz.Shadow, error) {
	sh := s.cfg.Shadow
	if !sh.Enabled() {
		return nil, nil
	}
	log := s.log.With("component", "shadow")
	src, err := openSource(s.cfg, sh.PolicyStore, "shadow", log)
	if err != nil {
		return nil, err
	}
	s.shadow.source = src
	reg := prometheus.WrapRegistererWithPrefix("shadow_", s.reg)
	engine := decision.NewEngine(0)
	s.shadow.loader = policysync.NewLoader(policysync.LoaderOptions{
		Source:       src,
		Engine:       engine,
		Compile:      PackageCompiler(s.cfg, log, reg),
		PollInterval: sh.PollInterval,
		Origin:       sh.Source,
		Logger:       log,
		Registerer:   reg,
	})
	s.shadow.cmp = extauthz.NewShadow(extauthz.ShadowOptions{
		Engine: engine, Sample: sh.Sample, Queue: sh.Queue, Logger: log, Registerer: s.reg,
		Mask: extauthz.Mask{Drop: s.cfg.DecisionLog.Mask.Drop, Hash: s.cfg.DecisionLog.Mask.Hash},
	})
	log.Warn("a shadow policy is evaluated beside the enforced one; it changes no response",
		"source", redactSource(sh.Source), "sample", sh.Sample)
	return s.shadow.cmp, nil
}

// runShadow runs the shadow loader until ctx is done; the channel closes
// when it has stopped (at once when there is none).
func (s *Server) runShadow(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if s.shadow.loader == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		_ = s.shadow.loader.Run(ctx)
	}()
	return done
}

func (p *shadowParts) close() {
	p.cmp.Close()
	if p.source != nil {
		_ = p.source.Close()
	}
}

// ShadowStatus is what GET /shadow on the admin listener answers: the
// comparison (extauthz.ShadowSummary) with the shadow store's state.
type ShadowStatus struct {
	extauthz.ShadowSummary
	// Source is shadow.source with any password removed.
	Source    string `json:"source"`
	LastError string `json:"last_error,omitempty"`
}

func (s *Server) shadowSummary(w http.ResponseWriter, _ *http.Request) {
	if s.shadow.cmp == nil {
		http.Error(w, "no shadow policy is configured (shadow.source)", http.StatusNotFound)
		return
	}
	st := ShadowStatus{ShadowSummary: s.shadow.cmp.Summary(), Source: redactSource(s.cfg.Shadow.Source)}
	if _, err := s.shadow.loader.Status(); err != nil {
		st.LastError = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(st)
}
