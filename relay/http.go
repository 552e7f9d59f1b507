package relay

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the relay's HTTP side: GET /fleet (the fleet status as
// JSON), /metrics (from gatherer) and /healthz (200 once the relay serves
// the store, 503 before).
func (r *Relay) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/fleet", r.fleet)
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-r.loaded:
			w.Write([]byte("ok\n"))
		default:
			http.Error(w, "the relay has not loaded the store yet", http.StatusServiceUnavailable)
		}
	})
	return mux
}
