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
	switch c.Output {
	case "off", "none":
	case "stdout":
		outs = append(outs, os.Stdout)
	case "stderr":
		outs = append(outs, os.Stderr)
	default:
		var f io.WriteCloser
		var err error
		if c.MaxFileBytes > 0 {
			keep := c.MaxFiles
			if keep == 0 {
				keep = 5
			}
			f, err = logsink.OpenFile(c.Output, c.MaxFileBytes, keep)
		} else {
			f, err = os.OpenFile(c.Output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("decision_log: %w", err)
		}
		outs, cs = append(outs, f), append(cs, f)
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
