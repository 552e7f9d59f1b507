package extauthz

import (
	"net/netip"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/edgeauthz/edgeauthz/decision"
)

// requestFromCheck fills req, a zero Request, with Envoy's CheckRequest as
// the decision input. Envoy
// sends header names lower-cased; the map is used as it is, without a copy.
// A request Envoy sent with encode_raw_headers carries header_map instead,
// whose repeated names are joined with commas as Envoy does for headers.
func requestFromCheck(cr *authv3.CheckRequest, req *decision.Request) {
	attrs := cr.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	req.Method = h.GetMethod()
	req.Host = h.GetHost()
	req.Target = h.GetPath()
	req.Headers = h.GetHeaders()
	req.Context = attrs.GetContextExtensions()
	// Envoy's source is the downstream peer as Envoy trusts it (after its
	// own X-Forwarded-For handling). Anything that is not a plain IP address
	// leaves the source unbound, so a rule that reads it denies.
	if a := attrs.GetSource().GetAddress().GetSocketAddress().GetAddress(); a != "" {
		if ip, err := netip.ParseAddr(a); err == nil && ip.Zone() == "" {
			req.SourceIP = ip.Unmap().String()
		}
	}
	if hm := h.GetHeaderMap(); len(req.Headers) == 0 && hm != nil {
		req.Headers = make(map[string]string, len(hm.GetHeaders()))
		for _, kv := range hm.GetHeaders() {
			k := strings.ToLower(kv.GetKey())
			v := kv.GetValue()
			if v == "" {
				v = string(kv.GetRawValue())
			}
			if prev, ok := req.Headers[k]; ok {
				v = prev + "," + v
			}
			req.Headers[k] = v
		}
	}
	if req.Host == "" {
		req.Host = req.Headers[":authority"]
	}
	if req.Target == "" {
		req.Target = req.Headers[":path"]
	}
	if req.Method == "" {
		req.Method = req.Headers[":method"]
	}
	if b := h.GetRawBody(); len(b) > 0 {
		req.Body = b
	} else if s := h.GetBody(); s != "" {
		req.Body = []byte(s)
	}
}
