package relay

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the relay's HTTP side: GET /fleet (the fleet status as
// JSON), /metrics (from gatherer) and /healthz (200 once the relay serves
// the store, 503 before) and, when write is not nil, the write API under
// /v1/.
func (r *Relay) Handler(gatherer prometheus.Gatherer, write http.Handler) http.Handler {
	mux := http.NewServeMux()
	if write != nil {
		mux.Handle("/v1/", write)
	}
	mux.Handle("/fleet", r.fleet)
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.Handle("/healthz", r.HealthHandler())
	return mux
}

// HealthHandler answers 200 once the relay serves the store and 503 before.
// It reveals nothing else, so it may be served on a plain-text probe port
// beside listeners that require client certificates (which kubelet's
// probes cannot present).
func (r *Relay) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-r.loaded:
			w.Write([]byte("ok\n"))
		default:
			http.Error(w, "the relay has not loaded the store yet", http.StatusServiceUnavailable)
		}
	})
}
