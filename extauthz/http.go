package extauthz

import (
	"io"
	"net/http"
	"strings"

	"github.com/edgeauthz/edgeauthz/decision"
)

// maxHTTPBody bounds the body read in HTTP mode (Envoy's with_request_body
// sends at most its own max_request_bytes).
const maxHTTPBody = 1 << 20

// HTTPHandler serves the authorization endpoint for Envoy's http_service,
// nginx auth_request and Traefik ForwardAuth. Mount it under the prefix with
// http.StripPrefix-free routing: it cuts the prefix from the raw target
// itself, so the original path reaches the decision undecoded.
type HTTPHandler struct {
	a      *Authorizer
	prefix string
}

// NewHTTPHandler serves decisions for requests under prefix (e.g. "/authz").
func NewHTTPHandler(a *Authorizer, prefix string) *HTTPHandler {
	return &HTTPHandler{a: a, prefix: strings.TrimSuffix(prefix, "/")}
}

func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := h.request(r)
	o := h.a.check(r.Context(), req, false)
	res := &o.res
	if res.Allowed {
		for _, ih := range h.a.upstreamHeaders(res) {
			// Blank values are sent too: proxies copy these headers over the
			// client's, and an empty one must replace a spoofed one.
			w.Header()[http.CanonicalHeaderKey(ih.name)] = []string{ih.value}
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if v := wwwAuthenticate(res); v != "" {
		w.Header().Set("WWW-Authenticate", v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(res.Status)
	_, _ = w.Write(denyBody(res))
}

// request reconstructs the original request: from nginx auth_request's
// X-Original-* headers, from Traefik's X-Forwarded-* headers, or from the
// request itself with the prefix cut off (Envoy http_service).
func (h *HTTPHandler) request(r *http.Request) *decision.Request {
	headers := make(map[string]string, len(r.Header)+1)
	for k, vs := range r.Header {
		// Repeated headers are joined as Envoy joins them, so two
		// Authorization headers stay detectable.
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	req := &decision.Request{Headers: headers, Host: r.Host, Method: r.Method}
	switch {
	case headers["x-original-uri"] != "":
		req.Target = headers["x-original-uri"]
		req.Method = headers["x-original-method"]
		if req.Method == "" {
			req.Method = http.MethodGet
		}
		if fh := headers["x-forwarded-host"]; fh != "" {
			req.Host = fh
		}
	case headers["x-forwarded-uri"] != "":
		req.Target = headers["x-forwarded-uri"]
		req.Method = headers["x-forwarded-method"]
		if req.Method == "" {
			req.Method = http.MethodGet
		}
		if fh := headers["x-forwarded-host"]; fh != "" {
			req.Host = fh
		}
	default:
		target := r.RequestURI
		if !strings.HasPrefix(target, h.prefix+"/") && target != h.prefix {
			// Not under the prefix: nothing to cut; the canonicalizer or
			// the route table refuses it.
			req.Target = target
			break
		}
		req.Target = strings.TrimPrefix(target, h.prefix)
		if req.Target == "" || req.Target[0] == '?' {
			req.Target = "/" + req.Target
		}
		if r.Body != nil && r.ContentLength != 0 {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxHTTPBody+1))
			if err == nil && len(body) <= maxHTTPBody {
				req.Body = body
			} else {
				// Too large to judge: marked partial, so payload rules deny.
				req.Headers["x-envoy-auth-partial-body"] = "true"
			}
		}
	}
	return req
}
