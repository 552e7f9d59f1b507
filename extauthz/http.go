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
	req, reason, conflict := h.request(r)
	var o outcome
	if conflict != "" {
		o = h.a.refuse(req, reason, conflict)
	} else {
		o = h.a.check(r.Context(), req)
	}
	res := &o.res
	// The decision id goes upstream on an allow (the proxy copies it) and
	// to the client on a deny.
	w.Header()[http.CanonicalHeaderKey(h.a.idHeader)] = []string{o.id.String()}
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
//
// Proxies pass client headers on (Traefik's ForwardAuth all of them, Envoy's
// http_service unless disallowed_headers says otherwise), so a client can add
// the other proxy's headers to choose what is authorized. When two
// descriptions of the original request disagree (X-Original-URI and
// X-Forwarded-Uri, the two method headers, or a header and the path after the
// prefix), the request is ambiguous: conflict says why, and it is denied
// (bad_path); so is one of those headers sent twice or empty, as no one can
// tell which value the proxy meant. A URI header without a method header is
// refused (bad_request): assuming GET would let any method pass as one; and
// so is a method header without a URI header at the bare prefix, which
// would otherwise describe "/".
func (h *HTTPHandler) request(r *http.Request) (req *decision.Request, reason decision.Reason, conflict string) {
	headers := make(map[string]string, len(r.Header)+1)
	for k, vs := range r.Header {
		// Repeated headers are joined as Envoy joins them, so two
		// Authorization headers stay detectable.
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	req = &decision.Request{Headers: headers, Host: r.Host, Method: r.Method}

	target := r.RequestURI
	underPrefix := strings.HasPrefix(target, h.prefix+"/") || target == h.prefix || strings.HasPrefix(target, h.prefix+"?")
	rest := target // not under the prefix: the canonicalizer or the route table refuses it
	if underPrefix {
		rest = strings.TrimPrefix(target, h.prefix)
		if rest == "" || rest[0] == '?' {
			rest = "/" + rest
		}
	}
	// A bare prefix (/authz, /authz/) names no original request: nginx and
	// Traefik call it and describe the original in headers.
	restPath, _, _ := strings.Cut(rest, "?")
	bare := underPrefix && restPath == "/"

	for _, name := range describingHeaders {
		vs, ok := r.Header[name]
		switch {
		case !ok:
		case len(vs) > 1:
			req.Target = rest
			return req, decision.ReasonBadPath, name + " is sent more than once"
		case vs[0] == "" && name != "X-Forwarded-Host":
			req.Target = rest
			return req, decision.ReasonBadPath, name + " is empty"
		}
	}
	uri, uriOK := agree(headers["x-original-uri"], headers["x-forwarded-uri"])
	method, methodOK := agree(headers["x-original-method"], headers["x-forwarded-method"])
	switch {
	case !uriOK:
		req.Target = headers["x-original-uri"]
		return req, decision.ReasonBadPath, "X-Original-URI and X-Forwarded-Uri disagree"
	case !methodOK:
		req.Target = uri
		return req, decision.ReasonBadPath, "X-Original-Method and X-Forwarded-Method disagree"
	case uri != "" && bare:
		req.Target, req.Method = uri, method
		if method == "" {
			return req, decision.ReasonBadRequest, missingMethod
		}
		if fh := headers["x-forwarded-host"]; fh != "" {
			req.Host = fh
		}
		return req, 0, ""
	case uri == "" && method != "" && bare:
		req.Target, req.Method = rest, method
		return req, decision.ReasonBadRequest, missingURI
	}

	// Envoy http_service: the original request is this one, under the prefix.
	req.Target = rest
	if uri != "" && uri != rest {
		return req, decision.ReasonBadPath, "the original-request headers name another request than the path"
	}
	if method != "" && method != r.Method {
		return req, decision.ReasonBadPath, "the original-request headers name another method than the request"
	}
	if underPrefix && r.Body != nil && r.ContentLength != 0 {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxHTTPBody+1))
		if err == nil && len(body) <= maxHTTPBody {
			req.Body = body
		} else {
			// Too large to judge: marked partial, so payload rules deny.
			req.Headers["x-envoy-auth-partial-body"] = "true"
		}
	}
	return req, 0, ""
}

// missingMethod is the refusal of an X-Original-URI or X-Forwarded-Uri that
// comes without the original method.
const missingMethod = "X-Original-URI or X-Forwarded-Uri names the request but no X-Original-Method or X-Forwarded-Method gives its method; " +
	"set it in the proxy (nginx: proxy_set_header X-Original-Method $request_method; Traefik sends X-Forwarded-Method)"

// missingURI is the refusal of a method header at the bare prefix without
// the URI it belongs to.
const missingURI = "X-Original-Method or X-Forwarded-Method gives a method but no X-Original-URI or X-Forwarded-Uri names the request; " +
	"set it in the proxy (nginx: proxy_set_header X-Original-URI $request_uri; Traefik sends X-Forwarded-Uri)"

// describingHeaders describe the original request in nginx's and Traefik's
// calls (canonical names: repeated lines of any case share one entry).
var describingHeaders = []string{"X-Original-Uri", "X-Forwarded-Uri", "X-Original-Method", "X-Forwarded-Method", "X-Forwarded-Host"}

// agree returns the value two headers give, and false when both are set and
// differ.
func agree(a, b string) (string, bool) {
	switch {
	case a == "":
		return b, true
	case b == "" || a == b:
		return a, true
	}
	return "", false
}
