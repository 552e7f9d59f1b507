package extauthz

import (
	"encoding/json"
	"net/http"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/edgeauthz/edgeauthz/decision"
)

// MetadataNamespace is where Envoy files the dynamic metadata edgeauthz
// returns (the ext_authz filter's own namespace).
const MetadataNamespace = "envoy.filters.http.ext_authz"

// identityHeaders are the upstream headers an allow sets, in order.
type identityHeader struct{ name, value string }

// upstreamHeaders lists the identity headers for an allow. Values that are
// unknown are empty; callers either omit or blank them.
func (a *Authorizer) upstreamHeaders(res *decision.Result) [4]identityHeader {
	p := a.headers.Prefix
	h := [4]identityHeader{{p + "subject", ""}, {p + "org", ""}, {p + "roles", ""}, {p + "rule", res.Rule}}
	if res.Principal != nil {
		h[0].value = res.Principal.Subject
		h[1].value = res.Principal.Org
		h[2].value = strings.Join(res.Roles(), ",")
	}
	return h
}

// response builds the CheckResponse for a decision. clientHeaders are the
// request's headers: every one with the identity prefix that this response
// does not overwrite is removed, so a client can never speak for edgeauthz.
func (a *Authorizer) response(res *decision.Result, clientHeaders map[string]string) *authv3.CheckResponse {
	if res.Allowed {
		ok := &authv3.OkHttpResponse{}
		set := map[string]bool{}
		for _, h := range a.upstreamHeaders(res) {
			if h.value == "" {
				continue
			}
			set[h.name] = true
			ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: h.name, Value: h.value},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
		for k := range clientHeaders {
			if strings.HasPrefix(strings.ToLower(k), a.headers.Prefix) && !set[strings.ToLower(k)] {
				ok.HeadersToRemove = append(ok.HeadersToRemove, strings.ToLower(k))
			}
		}
		if a.headers.StripAuthorization {
			// The credential goes no further, whichever header carried it.
			ok.HeadersToRemove = append(ok.HeadersToRemove, a.authn.TokenHeader())
		}
		return &authv3.CheckResponse{
			Status:          &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse:    &authv3.CheckResponse_OkResponse{OkResponse: ok},
			DynamicMetadata: metadata(res),
		}
	}
	denied := &authv3.DeniedHttpResponse{
		Status: &typev3.HttpStatus{Code: typev3.StatusCode(res.Status)},
		Body:   string(denyBody(res)),
		Headers: []*corev3.HeaderValueOption{{
			Header:       &corev3.HeaderValue{Key: "content-type", Value: "application/json"},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}},
	}
	if v := wwwAuthenticate(res); v != "" {
		denied.Headers = append(denied.Headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: "www-authenticate", Value: v},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	code := codes.PermissionDenied
	switch res.Status {
	case http.StatusUnauthorized:
		code = codes.Unauthenticated
	case http.StatusServiceUnavailable:
		code = codes.Unavailable
	case http.StatusBadRequest:
		code = codes.InvalidArgument
	}
	return &authv3.CheckResponse{
		Status:          &rpcstatus.Status{Code: int32(code), Message: res.Reason.String()},
		HttpResponse:    &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
		DynamicMetadata: metadata(res),
	}
}

// metadata is what Envoy's access log can print with
// %DYNAMIC_METADATA(envoy.filters.http.ext_authz:reason)% and the like.
func metadata(res *decision.Result) *structpb.Struct {
	f := map[string]*structpb.Value{
		"decision": structpb.NewStringValue(verdict(res)),
		"reason":   structpb.NewStringValue(res.Reason.String()),
		"status":   structpb.NewNumberValue(float64(res.Status)),
		"rule":     structpb.NewStringValue(res.Rule),
		"revision": structpb.NewStringValue(res.Revision),
	}
	if res.Principal != nil {
		f["subject"] = structpb.NewStringValue(res.Principal.Subject)
		f["org"] = structpb.NewStringValue(res.Principal.Org)
	}
	return &structpb.Struct{Fields: f}
}

func verdict(res *decision.Result) string {
	if res.Allowed {
		return "allow"
	}
	return "deny"
}

type denyJSON struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// denyBody is the JSON body of a deny.
func denyBody(res *decision.Result) []byte {
	b, _ := json.Marshal(denyJSON{Error: errorCode(res.Status), Message: res.Message(), Reason: res.Reason.String()})
	return b
}

func errorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusServiceUnavailable:
		return "unavailable"
	default:
		return "forbidden"
	}
}

// wwwAuthenticate follows RFC 6750 §3: a challenge on every 401, with
// error="invalid_token" when a token was sent, and insufficient_scope with
// the scopes that would do on a 403 for a missing scope.
func wwwAuthenticate(res *decision.Result) string {
	switch {
	case res.Status == http.StatusUnauthorized && res.Reason == decision.ReasonNoToken:
		return `Bearer realm="edgeauthz"`
	case res.Status == http.StatusUnauthorized:
		return `Bearer realm="edgeauthz", error="invalid_token", error_description=` + quote(res.Reason.Message())
	case res.Reason == decision.ReasonMissingScope:
		v := `Bearer realm="edgeauthz", error="insufficient_scope"`
		if len(res.MissingScopes) > 0 {
			v += ", scope=" + quote(strings.Join(res.MissingScopes, " "))
		}
		return v
	}
	return ""
}

// quote makes an RFC 7230 quoted-string, dropping characters it cannot hold.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
