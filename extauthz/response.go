package extauthz

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/decisionid"
)

// MetadataNamespace is where Envoy files the dynamic metadata edgeauthz
// returns (the ext_authz filter's own namespace).
const MetadataNamespace = "envoy.filters.http.ext_authz"

// identityHeaders are the upstream headers an allow sets, in order.
type identityHeader struct{ name, value string }

// upstreamHeaders lists the identity headers for an allow. Values that are
// unknown are empty; callers either omit or blank them.
func (a *Authorizer) upstreamHeaders(res *decision.Result) [4]identityHeader {
	n := &a.identityNames
	h := [4]identityHeader{{n[0], ""}, {n[1], ""}, {n[2], ""}, {n[3], res.Rule}}
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
// The decision id, unless zero (a cached decision's shared parts), is the
// last header, upstream on an allow and to the client on a deny, and the
// metadata's decision_id.
func (a *Authorizer) response(res *decision.Result, id decisionid.ID, clientHeaders map[string]string) *authv3.CheckResponse {
	md := metadata(res, id)
	if res.Allowed {
		hs := a.upstreamHeaders(res)
		// The options and their values are allocated together, not one
		// by one: this is a new token's first answer.
		opts := make([]corev3.HeaderValueOption, len(hs)+1)
		vals := make([]corev3.HeaderValue, len(hs)+1)
		ok := &authv3.OkHttpResponse{Headers: make([]*corev3.HeaderValueOption, 0, len(hs)+1)}
		add := func(name, value string) {
			i := len(ok.Headers)
			vals[i].Key, vals[i].Value = name, value
			opts[i].Header, opts[i].AppendAction = &vals[i], corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
			ok.Headers = append(ok.Headers, &opts[i])
		}
		for _, h := range hs {
			if h.value != "" {
				add(h.name, h.value)
			}
		}
		if !id.IsZero() {
			add(a.idHeader, id.String())
		}
		for k := range clientHeaders {
			if k = strings.ToLower(k); strings.HasPrefix(k, a.headers.Prefix) && !overwritten(k, &hs, a.idHeader) {
				ok.HeadersToRemove = append(ok.HeadersToRemove, k)
			}
		}
		if a.headers.StripAuthorization {
			// The credential goes no further, whichever header carried it.
			ok.HeadersToRemove = append(ok.HeadersToRemove, a.authn.TokenHeader())
		}
		return &authv3.CheckResponse{
			Status:          &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse:    &authv3.CheckResponse_OkResponse{OkResponse: ok},
			DynamicMetadata: md,
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
	if !id.IsZero() {
		denied.Headers = append(denied.Headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: a.idHeader, Value: id.String()},
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
		DynamicMetadata: md,
	}
}

// overwritten reports whether an allow sets the client's header name: an
// identity header it gives a value, or the decision id, which it always
// overwrites (without an id, the shared parts of a cached decision, each
// reply adds its own).
func overwritten(name string, hs *[4]identityHeader, idHeader string) bool {
	if name == idHeader {
		return true
	}
	for _, h := range hs {
		if h.name == name && h.value != "" {
			return true
		}
	}
	return false
}

// metadata is what Envoy's access log can print with
// %DYNAMIC_METADATA(envoy.filters.http.ext_authz:reason)% and the like,
// with the decision id unless it is zero. It is written straight in
// protobuf's encoding, carried as the unknown fields of an empty Struct
// (written out verbatim): building and encoding a map of Values cost a
// new token's first request about fifty allocations.
func metadata(res *decision.Result, id decisionid.ID) *structpb.Struct {
	b := make([]byte, 0, 192+len(res.Rule)+len(res.Revision))
	b = appendStringEntry(b, "decision", verdict(res))
	if !id.IsZero() {
		b = appendEntryHeader(b, MetadataDecisionID, decisionid.Len)
		b = id.AppendTo(b)
	}
	b = appendStringEntry(b, "reason", res.Reason.String())
	b = appendNumberEntry(b, "status", float64(res.Status))
	b = appendStringEntry(b, "rule", res.Rule)
	b = appendStringEntry(b, "revision", res.Revision)
	if res.Principal != nil {
		b = appendStringEntry(b, "subject", res.Principal.Subject)
		b = appendStringEntry(b, "org", res.Principal.Org)
	}
	md := &structpb.Struct{}
	md.ProtoReflect().SetUnknown(protoreflect.RawFields(b))
	return md
}

// appendEntryHeader appends a Struct.fields entry up to the bytes of a
// string Value of n bytes, which the caller appends.
func appendEntryHeader(b []byte, key string, n int) []byte {
	val := 1 + protowire.SizeBytes(n) // Value.string_value
	entry := 1 + protowire.SizeBytes(len(key)) + 1 + protowire.SizeBytes(val)
	b = protowire.AppendTag(b, fieldStructFields, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(entry))
	b = protowire.AppendTag(b, fieldEntryKey, protowire.BytesType)
	b = protowire.AppendString(b, key)
	b = protowire.AppendTag(b, fieldEntryValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(val))
	b = protowire.AppendTag(b, fieldValueString, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

func appendStringEntry(b []byte, key, v string) []byte {
	return append(appendEntryHeader(b, key, len(v)), v...)
}

func appendNumberEntry(b []byte, key string, v float64) []byte {
	const val = 1 + 8 // Value.number_value, a double
	entry := 1 + protowire.SizeBytes(len(key)) + 1 + protowire.SizeBytes(val)
	b = protowire.AppendTag(b, fieldStructFields, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(entry))
	b = protowire.AppendTag(b, fieldEntryKey, protowire.BytesType)
	b = protowire.AppendString(b, key)
	b = protowire.AppendTag(b, fieldEntryValue, protowire.BytesType)
	b = protowire.AppendVarint(b, val)
	b = protowire.AppendTag(b, fieldValueNumber, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
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
