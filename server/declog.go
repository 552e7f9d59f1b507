package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/extauthz"
	"github.com/edgeauthz/edgeauthz/internal/logsink"
)

// decisionLog opens the decision log: decision_log.output (stdout, stderr,
// a file, or off) and, when decision_log.http.url is set, the HTTP sink as
// well. The closer closes the file, then drains the sink; it runs after the
// DecisionLog's own Close has flushed into them.
func decisionLog(c config.DecisionLog, reg prometheus.Registerer, log *slog.Logger) (*extauthz.DecisionLog, io.Closer, error) {
	o := extauthz.LogOptions{SampleAllows: c.SampleAllows, MaxFieldBytes: c.MaxFieldBytes,
		Mask: extauthz.Mask{Drop: c.Mask.Drop, Hash: c.Mask.Hash}, RecordInputs: c.RecordInputs}
	if err := o.Mask.Validate(); err != nil {
		return nil, nil, err
	}
	var (
		outs []io.Writer
		cs   closers
	)
	// Each output is wrapped so that a failed write is counted and logged
	// and never stops the others or the decision log's buffer.
	guard := func(w io.Writer, name string) error {
		g, err := logsink.NewOutput(w, logsink.OutputOptions{Name: name, Registerer: reg,
			Logger: log.With("component", "decision_log")})
		if err != nil {
			return fmt.Errorf("decision_log: %w", err)
		}
		outs = append(outs, g)
		return nil
	}
	switch c.Output {
	case "off", "none":
	case "stdout", "stderr":
		w := os.Stdout
		if c.Output == "stderr" {
			w = os.Stderr
		}
		if err := guard(w, c.Output); err != nil {
			return nil, nil, err
		}
	default:
		// A File, rotating or not: it reopens the path when the file or its
		// directory is removed or moved away.
		keep := c.MaxFiles
		if keep == 0 {
			keep = 5
		}
		f, err := logsink.OpenFile(c.Output, c.MaxFileBytes, keep)
		if err != nil {
			return nil, nil, fmt.Errorf("decision_log: %w", err)
		}
		cs = append(cs, f)
		if err := guard(f, c.Output); err != nil {
			_ = cs.Close()
			return nil, nil, err
		}
	}
	if c.HTTP.URL != "" {
		tc, err := clientTLS(c.HTTP.TLS, "decision_log.http.tls", log)
		if err != nil {
			_ = cs.Close()
			return nil, nil, err
		}
		sink, err := logsink.NewHTTP(logsink.HTTPOptions{
			URL: c.HTTP.URL, BatchBytes: c.HTTP.BatchBytes, FlushInterval: c.HTTP.FlushInterval,
			MaxBufferBytes: c.HTTP.MaxBufferBytes, Timeout: c.HTTP.Timeout, TLS: tc,
			Logger: log.With("component", "decision_log"), Registerer: reg,
		})
		if err != nil {
			_ = cs.Close()
			return nil, nil, fmt.Errorf("decision_log.http: %w", err)
		}
		outs, cs = append(outs, sink), append(cs, sink)
	}
	switch len(outs) {
	case 0:
		return nil, nil, nil
	case 1:
		return extauthz.NewDecisionLog(outs[0], o), cs.orNil(), nil
	}
	return extauthz.NewDecisionLog(io.MultiWriter(outs...), o), cs.orNil(), nil
}

// closers closes each closer in order.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (cs closers) orNil() io.Closer {
	if len(cs) == 0 {
		return nil
	}
	return cs
}
