package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	accesslogfilev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
)

// The typed_config Anys in the bootstraps resolve through the global registry: these
// packages must be linked in. The blank uses keep an import from going unused when an
// assertion that names the type is removed.
var (
	_ = (*accesslogfilev3.FileAccessLog)(nil)
	_ = (*routerv3.Router)(nil)
	_ = (*headermutationv3.HeaderMutation)(nil)
	_ = (*upstreamhttpv3.HttpProtocolOptions)(nil)
)

const (
	extAuthzFilterName = "envoy.filters.http.ext_authz"
	routerFilterName   = "envoy.filters.http.router"
	routeContextKey    = "edgeauthz_route"
	namespace          = "edgeauthz"
	serviceName        = "edgeauthz"
	grpcPort           = 9191
	httpPort           = 8181
)

// ---------------------------------------------------------------------------------------
// Reading files

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// yamlDocs splits a YAML stream on "---" lines and drops documents that hold only
// comments or blank lines.
func yamlDocs(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		content := false
		for _, line := range strings.Split(string(d), "\n") {
			l := strings.TrimSpace(line)
			if l != "" && !strings.HasPrefix(l, "#") {
				content = true
				break
			}
		}
		if content {
			docs = append(docs, d)
		}
	}
	return docs
}

// singleDoc returns the file's one YAML document.
func singleDoc(t testing.TB, name string) []byte {
	t.Helper()
	docs := yamlDocs(readFile(t, name))
	if len(docs) != 1 {
		t.Fatalf("%s: %d YAML documents, want 1", name, len(docs))
	}
	return docs[0]
}

// toJSON converts YAML to JSON, refusing duplicate keys.
func toJSON(t testing.TB, name string, doc []byte) []byte {
	t.Helper()
	j, err := sigsyaml.YAMLToJSONStrict(doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return j
}

// decodeStrict decodes a YAML document into a Go (Kubernetes) type, refusing unknown and
// duplicate fields.
func decodeStrict(t testing.TB, name string, doc []byte, out any) {
	t.Helper()
	if err := sigsyaml.UnmarshalStrict(doc, out); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// decodeProto decodes JSON into a protobuf message, refusing unknown fields.
func decodeProto(t testing.TB, name string, j []byte, m proto.Message) {
	t.Helper()
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(j, m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// ---------------------------------------------------------------------------------------
// Validating protobuf trees

type validatorAll interface{ ValidateAll() error }

// checkProtoTree runs the protoc-gen-validate rules on m and on every message packed in an
// Any below it (ValidateAll does not look inside an Any), and reports every field or enum
// value that the API marks deprecated.
func checkProtoTree(t *testing.T, name string, m proto.Message) {
	t.Helper()
	validate := func(where string, m proto.Message) {
		if v, ok := m.(validatorAll); ok {
			if err := v.ValidateAll(); err != nil {
				t.Errorf("%s: %s: %v", name, where, err)
			}
		}
	}
	var walk func(where string, m protoreflect.Message)
	value := func(where string, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
		switch fd.Kind() {
		case protoreflect.MessageKind, protoreflect.GroupKind:
			walk(where, v.Message())
		case protoreflect.EnumKind:
			ev := fd.Enum().Values().ByNumber(v.Enum())
			if ev == nil {
				t.Errorf("%s: %s: unknown enum value %d", name, where, v.Enum())
			} else if o, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && o.GetDeprecated() {
				t.Errorf("%s: %s: enum value %s is deprecated", name, where, ev.Name())
			}
		}
	}
	walk = func(where string, m protoreflect.Message) {
		if a, ok := m.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				t.Errorf("%s: %s: %v (is the type's package imported?)", name, where, err)
				return
			}
			where += "<" + string(inner.ProtoReflect().Descriptor().FullName()) + ">"
			validate(where, inner)
			walk(where, inner.ProtoReflect())
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			p := where + "." + string(fd.Name())
			if o, ok := fd.Options().(*descriptorpb.FieldOptions); ok && o.GetDeprecated() {
				t.Errorf("%s: %s is deprecated", name, p)
			}
			switch {
			case fd.IsList():
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					value(fmt.Sprintf("%s[%d]", p, i), fd, l.Get(i))
				}
			case fd.IsMap():
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					value(fmt.Sprintf("%s[%s]", p, k.String()), fd.MapValue(), mv)
					return true
				})
			default:
				value(p, fd, v)
			}
			return true
		})
	}
	validate("", m)
	walk("", m.ProtoReflect())
}

// matches reports whether a ListStringMatcher from the config admits header name s, with
// Envoy's semantics for the matcher kinds these files use.
func matches(t testing.TB, l *matcherv3.ListStringMatcher, s string) bool {
	t.Helper()
	for _, p := range l.GetPatterns() {
		if stringMatch(t, p, s) {
			return true
		}
	}
	return false
}

func stringMatch(t testing.TB, m *matcherv3.StringMatcher, s string) bool {
	t.Helper()
	fold := func(x string) string {
		if m.GetIgnoreCase() {
			return strings.ToLower(x)
		}
		return x
	}
	v := fold(s)
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return v == fold(p.Exact)
	case *matcherv3.StringMatcher_Prefix:
		return strings.HasPrefix(v, fold(p.Prefix))
	case *matcherv3.StringMatcher_Suffix:
		return strings.HasSuffix(v, fold(p.Suffix))
	case *matcherv3.StringMatcher_Contains:
		return strings.Contains(v, fold(p.Contains))
	default:
		t.Fatalf("matcher %v for %q: kind not understood by this test", m, s)
		return false
	}
}

// ---------------------------------------------------------------------------------------
// The example policy in the ConfigMap (the routes Envoy names must exist there)

func loadConfigMap(t testing.TB) *corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	decodeStrict(t, "kubernetes/configmap.yaml", singleDoc(t, "kubernetes/configmap.yaml"), &cm)
	return &cm
}

// examplePolicy is the ConfigMap's policy.yaml, parsed and compiled as edgeauthz does.
type examplePolicy struct {
	doc  *config.Policy
	snap *decision.Snapshot
}

// loadExamplePolicy parses the policy in the ConfigMap with config.ParsePolicy (unknown keys
// refused) and compiles it with decision.Compile, as edgeauthz would before serving it.
func loadExamplePolicy(t testing.TB) *examplePolicy {
	t.Helper()
	cm := loadConfigMap(t)
	src, ok := cm.Data["policy.yaml"]
	if !ok {
		t.Fatal("configmap: no policy.yaml")
	}
	doc, err := config.ParsePolicy("kubernetes/configmap.yaml policy.yaml", []byte(src))
	if err != nil {
		t.Fatalf("configmap policy.yaml: %v", err)
	}
	snap, err := decision.Compile(doc, decision.Options{})
	if err != nil {
		t.Fatalf("configmap policy.yaml: %v", err)
	}
	if len(doc.Roles) == 0 || len(doc.Routes) == 0 {
		t.Errorf("configmap policy.yaml: %d roles, %d routes: the example needs both", len(doc.Roles), len(doc.Routes))
	}
	return &examplePolicy{doc: doc, snap: snap}
}

// decide asks the compiled policy about a request without a token, optionally naming the
// rule as Envoy's context_extensions do.
func (p *examplePolicy) decide(method, path, named string) decision.Result {
	req := &decision.Request{Method: method, Host: "api.example.com", Target: path,
		Headers: map[string]string{}}
	if named != "" {
		req.Context = map[string]string{routeContextKey: named}
	}
	return p.snap.Decide(req, decision.Caller{}) // no token
}

// ---------------------------------------------------------------------------------------
// Envoy

type envoyConfig struct {
	file     string
	boot     *bootstrapv3.Bootstrap
	hcm      *hcmv3.HttpConnectionManager
	filters  []string
	authz    *extauthzv3.ExtAuthz
	clusters map[string]*clusterv3.Cluster
}

func loadEnvoy(t *testing.T, file string) *envoyConfig {
	t.Helper()
	var boot bootstrapv3.Bootstrap
	decodeProto(t, file, toJSON(t, file, readFile(t, file)), &boot)
	if err := boot.ValidateAll(); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	checkProtoTree(t, file, &boot)

	c := &envoyConfig{file: file, boot: &boot, clusters: map[string]*clusterv3.Cluster{}}
	for _, cl := range boot.GetStaticResources().GetClusters() {
		if _, dup := c.clusters[cl.GetName()]; dup {
			t.Errorf("%s: cluster %q twice", file, cl.GetName())
		}
		c.clusters[cl.GetName()] = cl
	}
	ls := boot.GetStaticResources().GetListeners()
	if len(ls) != 1 || len(ls[0].GetFilterChains()) != 1 || len(ls[0].GetFilterChains()[0].GetFilters()) != 1 {
		t.Fatalf("%s: want one listener with one filter chain holding one filter", file)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := ls[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatalf("%s: listener filter is not an HttpConnectionManager: %v", file, err)
	}
	c.hcm = &hcm
	for _, f := range hcm.GetHttpFilters() {
		c.filters = append(c.filters, f.GetName())
		if f.GetName() != extAuthzFilterName {
			continue
		}
		if c.authz != nil {
			t.Fatalf("%s: two %s filters", file, extAuthzFilterName)
		}
		c.authz = &extauthzv3.ExtAuthz{}
		if err := f.GetTypedConfig().UnmarshalTo(c.authz); err != nil {
			t.Fatalf("%s: %s: %v", file, f.GetName(), err)
		}
		if f.GetDisabled() || f.GetIsOptional() {
			t.Errorf("%s: the ext_authz filter must be neither disabled nor optional", file)
		}
	}
	if c.authz == nil {
		t.Fatalf("%s: no http filter named %s", file, extAuthzFilterName)
	}
	return c
}

// endpoint returns the cluster's one endpoint address as host:port.
func (c *envoyConfig) endpoint(t *testing.T, cluster string) string {
	t.Helper()
	cl, ok := c.clusters[cluster]
	if !ok {
		t.Fatalf("%s: no cluster %q", c.file, cluster)
	}
	eps := cl.GetLoadAssignment().GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
		t.Fatalf("%s: cluster %q: want exactly one endpoint", c.file, cluster)
	}
	sa := eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	return fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
}

func (c *envoyConfig) routes(t *testing.T) []*routev3.Route {
	t.Helper()
	var rs []*routev3.Route
	for _, vh := range c.hcm.GetRouteConfig().GetVirtualHosts() {
		rs = append(rs, vh.GetRoutes()...)
	}
	if len(rs) == 0 {
		t.Fatalf("%s: no routes (an inline route_config is expected)", c.file)
	}
	return rs
}

// accessLogFormats returns every string in the access logs' JSON formats.
func (c *envoyConfig) accessLogFormats(t *testing.T) string {
	t.Helper()
	var out []string
	for _, al := range c.hcm.GetAccessLog() {
		var f accesslogfilev3.FileAccessLog
		if err := al.GetTypedConfig().UnmarshalTo(&f); err != nil {
			t.Fatalf("%s: access log: %v", c.file, err)
		}
		for k, v := range f.GetLogFormat().GetJsonFormat().GetFields() {
			out = append(out, k+"="+v.GetStringValue())
		}
		out = append(out, f.GetLogFormat().GetTextFormatSource().GetInlineString())
	}
	return strings.Join(out, "\n")
}

func TestEnvoyBootstraps(t *testing.T) {
	policy := loadExamplePolicy(t)
	for _, tc := range []struct {
		file     string
		grpc     bool
		metadata []string // keys read from envoy.filters.http.ext_authz in the access log
	}{
		{"envoy/envoy-grpc.yaml", true, []string{"decision_id", "rule", "reason", "subject", "org", "revision"}},
		{"envoy/envoy-grpc-mtls.yaml", true, []string{"decision_id", "rule", "reason", "subject", "org", "revision"}},
		{"envoy/envoy-http.yaml", false, []string{"x-auth-decision-id", "x-auth-rule", "x-auth-subject", "x-auth-org"}},
	} {
		t.Run(path.Base(tc.file), func(t *testing.T) {
			c := loadEnvoy(t, tc.file)
			checkNormalization(t, c)
			checkFilterOrder(t, c)
			checkFailClosed(t, c)
			if tc.grpc {
				checkGRPCService(t, c)
				if strings.HasSuffix(tc.file, "-mtls.yaml") {
					checkUpstreamMTLS(t, c)
				}
			} else {
				checkHTTPService(t, c)
			}
			checkRoutes(t, c, policy)
			logs := c.accessLogFormats(t)
			for _, k := range tc.metadata {
				want := "%DYNAMIC_METADATA(" + extAuthzFilterName + ":" + k + ")%"
				if !strings.Contains(logs, want) {
					t.Errorf("%s: access log does not print %s", c.file, want)
				}
			}
		})
	}
}

// checkNormalization: Envoy canonicalizes the path before routing and ext_authz, refuses
// underscore headers and strips client-sent x-auth-* on entry.
func checkNormalization(t *testing.T, c *envoyConfig) {
	t.Helper()
	h := c.hcm
	if !h.GetNormalizePath().GetValue() {
		t.Errorf("%s: normalize_path is not true", c.file)
	}
	if !h.GetMergeSlashes() {
		t.Errorf("%s: merge_slashes is not true", c.file)
	}
	if got := h.GetPathWithEscapedSlashesAction(); got != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		t.Errorf("%s: path_with_escaped_slashes_action = %v, want REJECT_REQUEST", c.file, got)
	}
	if got := h.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction(); got != corev3.HttpProtocolOptions_REJECT_REQUEST {
		t.Errorf("%s: headers_with_underscores_action = %v, want REJECT_REQUEST", c.file, got)
	}
	stripped := map[string]bool{}
	for _, ext := range h.GetEarlyHeaderMutationExtensions() {
		var hm headermutationv3.HeaderMutation
		if err := ext.GetTypedConfig().UnmarshalTo(&hm); err != nil {
			continue
		}
		for _, m := range hm.GetMutations() {
			for _, name := range []string{"x-auth-subject", "x-auth-org", "x-auth-roles", "x-auth-rule", "x-auth-anything"} {
				if m.GetRemove() == name || (m.GetRemoveOnMatch() != nil && stringMatch(t, m.GetRemoveOnMatch().GetKeyMatcher(), name)) {
					stripped[name] = true
				}
			}
		}
	}
	if len(stripped) != 5 {
		t.Errorf("%s: early header mutation strips only %v of the client's x-auth-* headers", c.file, stripped)
	}
	if h.GetUseRemoteAddress().GetValue() != true {
		t.Errorf("%s: use_remote_address is not true (edge proxy)", c.file)
	}
}

// checkFilterOrder: ext_authz runs before the router, which is last.
func checkFilterOrder(t *testing.T, c *envoyConfig) {
	t.Helper()
	n := len(c.filters)
	if n < 2 || c.filters[n-1] != routerFilterName {
		t.Fatalf("%s: http_filters %v: the router must be last", c.file, c.filters)
	}
	if i := slices.Index(c.filters, extAuthzFilterName); i < 0 || i > n-2 {
		t.Errorf("%s: http_filters %v: ext_authz must come before the router", c.file, c.filters)
	}
}

// checkFailClosed: nothing lets a request through when edgeauthz fails, and it sees the body.
func checkFailClosed(t *testing.T, c *envoyConfig) {
	t.Helper()
	a := c.authz
	if a.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		t.Errorf("%s: transport_api_version = %v, want V3", c.file, a.GetTransportApiVersion())
	}
	if a.GetFailureModeAllow() {
		t.Errorf("%s: failure_mode_allow is true: an unreachable edgeauthz would allow everything", c.file)
	}
	if a.GetShadowMode() {
		t.Errorf("%s: shadow_mode is true: denials would not be enforced", c.file)
	}
	if a.GetFilterEnabled() != nil || a.GetFilterEnabledMetadata() != nil {
		t.Errorf("%s: the filter must be enabled for every request (per-route disabled only)", c.file)
	}
	if a.GetStatusOnError() == nil {
		t.Errorf("%s: status_on_error is not set explicitly", c.file)
	} else if code := a.GetStatusOnError().GetCode(); code != 503 {
		t.Errorf("%s: status_on_error = %d, want 503 (as documented)", c.file, code)
	}
	b := a.GetWithRequestBody()
	if b == nil {
		t.Fatalf("%s: with_request_body is not set: payload rules would always deny", c.file)
	}
	if b.GetMaxRequestBytes() == 0 || b.GetMaxRequestBytes() > 1<<20 {
		t.Errorf("%s: with_request_body.max_request_bytes = %d, want 1..1MiB", c.file, b.GetMaxRequestBytes())
	}
	if !b.GetAllowPartialMessage() {
		t.Errorf("%s: with_request_body.allow_partial_message is false: big bodies would get 413 on every route", c.file)
	}
}

func checkGRPCService(t *testing.T, c *envoyConfig) {
	t.Helper()
	gs := c.authz.GetGrpcService()
	if gs == nil {
		t.Fatalf("%s: ext_authz has no grpc_service", c.file)
	}
	if got := gs.GetEnvoyGrpc().GetClusterName(); got != "edgeauthz" {
		t.Errorf("%s: grpc_service cluster = %q, want edgeauthz", c.file, got)
	}
	checkTimeout(t, c.file, "grpc_service.timeout", gs.GetTimeout().AsDuration(), gs.GetTimeout() != nil)
	if !c.authz.GetWithRequestBody().GetPackAsBytes() {
		t.Errorf("%s: with_request_body.pack_as_bytes is false: a non-UTF-8 body breaks the Check", c.file)
	}
	if got := c.endpoint(t, "edgeauthz"); got != fmt.Sprintf("127.0.0.1:%d", grpcPort) {
		t.Errorf("%s: edgeauthz cluster endpoint = %s, want 127.0.0.1:%d", c.file, got, grpcPort)
	}
	cl := c.clusters["edgeauthz"]
	anyOpts, ok := cl.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if !ok {
		t.Fatalf("%s: edgeauthz cluster has no HttpProtocolOptions: gRPC needs HTTP/2", c.file)
	}
	var po upstreamhttpv3.HttpProtocolOptions
	if err := anyOpts.UnmarshalTo(&po); err != nil {
		t.Fatalf("%s: %v", c.file, err)
	}
	if po.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Errorf("%s: edgeauthz cluster does not speak HTTP/2", c.file)
	}
	if cl.GetHealthChecks() == nil || cl.GetHealthChecks()[0].GetGrpcHealthCheck() == nil {
		t.Errorf("%s: edgeauthz cluster has no gRPC health check", c.file)
	}
}

func checkHTTPService(t *testing.T, c *envoyConfig) {
	t.Helper()
	hs := c.authz.GetHttpService()
	if hs == nil {
		t.Fatalf("%s: ext_authz has no http_service", c.file)
	}
	su := hs.GetServerUri()
	if su.GetCluster() != "edgeauthz" {
		t.Errorf("%s: http_service.server_uri.cluster = %q, want edgeauthz", c.file, su.GetCluster())
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", httpPort); su.GetUri() != want {
		t.Errorf("%s: server_uri.uri = %q, want %q", c.file, su.GetUri(), want)
	}
	checkTimeout(t, c.file, "server_uri.timeout", su.GetTimeout().AsDuration(), su.GetTimeout() != nil)
	if hs.GetPathPrefix() != "/authz" {
		t.Errorf("%s: path_prefix = %q, want /authz", c.file, hs.GetPathPrefix())
	}
	if got := c.endpoint(t, "edgeauthz"); got != fmt.Sprintf("127.0.0.1:%d", httpPort) {
		t.Errorf("%s: edgeauthz cluster endpoint = %s, want 127.0.0.1:%d", c.file, got, httpPort)
	}
	sent := func(h string) bool {
		return matches(t, c.authz.GetAllowedHeaders(), h) && !matches(t, c.authz.GetDisallowedHeaders(), h)
	}
	for _, h := range []string{"authorization", "cookie"} {
		if !sent(h) {
			t.Errorf("%s: header %q is not sent to edgeauthz", c.file, h)
		}
	}
	// These select the "original request" in nginx/Traefik modes: a client must not set them.
	for _, h := range []string{"x-original-uri", "x-original-method", "x-forwarded-uri", "x-forwarded-method", "x-forwarded-host"} {
		if sent(h) {
			t.Errorf("%s: client header %q reaches edgeauthz", c.file, h)
		}
	}
	ar := hs.GetAuthorizationResponse()
	for _, h := range []string{"x-auth-subject", "x-auth-org", "x-auth-roles", "x-auth-rule"} {
		if !matches(t, ar.GetAllowedUpstreamHeaders(), h) {
			t.Errorf("%s: %s is not sent upstream on allow", c.file, h)
		}
	}
	if matches(t, ar.GetAllowedUpstreamHeaders(), "authorization") || matches(t, ar.GetAllowedUpstreamHeaders(), "x-original-uri") {
		t.Errorf("%s: allowed_upstream_headers lets edgeauthz's response overwrite unrelated headers", c.file)
	}
	if !matches(t, ar.GetAllowedClientHeaders(), "www-authenticate") {
		t.Errorf("%s: www-authenticate is not passed to the client on deny", c.file)
	}
	if cl := c.clusters["edgeauthz"]; cl.GetHealthChecks() == nil || cl.GetHealthChecks()[0].GetHttpHealthCheck().GetPath() != "/readyz" {
		t.Errorf("%s: edgeauthz cluster is not health checked on /readyz", c.file)
	}
}

func checkTimeout(t *testing.T, file, what string, d time.Duration, set bool) {
	t.Helper()
	if !set || d <= 0 || d > time.Second {
		t.Errorf("%s: %s = %v (set: %v), want 0 < timeout ≤ 1s", file, what, d, set)
	}
}

// checkRoutes: per-filter configs name a real filter; /healthz alone skips ext_authz; Envoy
// names a couple of edgeauthz rules, which exist in the compiled example policy and match
// what Envoy's route matches; clusters exist.
func checkRoutes(t *testing.T, c *envoyConfig, policy *examplePolicy) {
	t.Helper()
	var named []string
	publicSeen := false
	for _, r := range c.routes(t) {
		if cl := r.GetRoute().GetCluster(); cl == "" || c.clusters[cl] == nil {
			t.Errorf("%s: route %q: cluster %q does not exist", c.file, r.GetName(), cl)
		}
		public := r.GetMatch().GetPath() == "/healthz"
		disabled := false
		for key, cfg := range r.GetTypedPerFilterConfig() {
			// A key that names no filter is silently ignored by Envoy.
			if !slices.Contains(c.filters, key) {
				t.Errorf("%s: route %q: typed_per_filter_config key %q names no http filter %v", c.file, r.GetName(), key, c.filters)
				continue
			}
			if key != extAuthzFilterName {
				continue
			}
			var pr extauthzv3.ExtAuthzPerRoute
			if err := cfg.UnmarshalTo(&pr); err != nil {
				t.Fatalf("%s: route %q: %v", c.file, r.GetName(), err)
			}
			if pr.GetDisabled() {
				disabled = true
			}
			if name, ok := pr.GetCheckSettings().GetContextExtensions()[routeContextKey]; ok {
				named = append(named, name)
				checkNamedRule(t, c.file, r, name, policy)
			}
		}
		if public {
			publicSeen = true
			if !disabled {
				t.Errorf("%s: public route /healthz does not disable ext_authz", c.file)
			}
			// Envoy's route matches every method: so must the policy's public rule.
			for _, m := range []string{"GET", "HEAD", "POST"} {
				if res := policy.decide(m, "/healthz", ""); !res.Allowed || res.Reason != decision.ReasonPublic {
					t.Errorf("%s: /healthz skips edgeauthz, but the example policy answers %s /healthz without a token with %s (rule %q)",
						c.file, m, res.Reason, res.Rule)
				}
			}
		} else if disabled {
			t.Errorf("%s: route %q disables ext_authz but is not the public /healthz route", c.file, r.GetName())
		}
	}
	if !publicSeen {
		t.Errorf("%s: no public /healthz route", c.file)
	}
	if len(named) < 2 {
		t.Errorf("%s: %d routes name an edgeauthz rule with %s, want at least 2", c.file, len(named), routeContextKey)
	}
}

// checkNamedRule: the rule an Envoy route names exists in the compiled policy, and a request
// Envoy's route matches is matched by the rule too, both as named and when edgeauthz finds
// the rule itself (so naming the rule changes nothing).
func checkNamedRule(t *testing.T, file string, r *routev3.Route, name string, policy *examplePolicy) {
	t.Helper()
	if !slices.ContainsFunc(policy.doc.Routes, func(pr config.Route) bool { return pr.Name == name }) {
		t.Errorf("%s: route %q names edgeauthz rule %q, which the example policy lacks", file, r.GetName(), name)
		return
	}
	method := "GET"
	for _, h := range r.GetMatch().GetHeaders() {
		if h.GetName() == ":method" {
			if method = h.GetStringMatch().GetExact(); method == "" {
				t.Errorf("%s: route %q: match the method exactly (the test derives a request from it)", file, r.GetName())
				return
			}
		}
	}
	path := samplePath(t, file, r)
	if path == "" {
		return
	}
	if res := policy.decide(method, path, name); res.Reason == decision.ReasonNoRoute || res.Rule != name {
		t.Errorf("%s: route %q matches %s %s, which the rule %q it names does not match (%s: %s)",
			file, r.GetName(), method, path, name, res.Reason, res.Detail)
	}
	if res := policy.decide(method, path, ""); res.Rule != name {
		t.Errorf("%s: route %q names rule %q, but edgeauthz finds rule %q for %s %s by itself",
			file, r.GetName(), name, res.Rule, method, path)
	}
}

// samplePath is a path that the Envoy route matches: its exact path or prefix, or its
// safe_regex with each [^/]+ segment filled in.
func samplePath(t *testing.T, file string, r *routev3.Route) string {
	t.Helper()
	m := r.GetMatch()
	switch {
	case m.GetPath() != "":
		return m.GetPath()
	case m.GetPrefix() != "":
		return m.GetPrefix()
	case m.GetSafeRegex() != nil:
		re := m.GetSafeRegex().GetRegex()
		p := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(re, "^"), "$"), "[^/]+", "x1")
		if strings.ContainsAny(p, `^$[]()*+?\|{}.`) || !regexp.MustCompile(re).MatchString(p) {
			t.Errorf("%s: route %q: cannot derive a sample path from regex %q (extend samplePath)", file, r.GetName(), re)
			return ""
		}
		return p
	}
	t.Errorf("%s: route %q: unsupported path match (extend samplePath)", file, r.GetName())
	return ""
}

// ---------------------------------------------------------------------------------------
// Kubernetes

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images"`
}

type k8sManifests struct {
	kust    kustomization
	ns      corev1.Namespace
	sa      corev1.ServiceAccount
	cm      *corev1.ConfigMap
	deploy  appsv1.Deployment
	svc     corev1.Service
	pdb     policyv1.PodDisruptionBudget
	hpa     autoscalingv2.HorizontalPodAutoscaler
	objects map[string]*metav1.ObjectMeta // file → metadata
	types   map[string]metav1.TypeMeta
}

func loadK8s(t *testing.T) *k8sManifests {
	t.Helper()
	m := &k8sManifests{objects: map[string]*metav1.ObjectMeta{}, types: map[string]metav1.TypeMeta{}}
	dir := "kubernetes/"
	decodeStrict(t, dir+"kustomization.yaml", singleDoc(t, dir+"kustomization.yaml"), &m.kust)
	load := func(file string, out any, meta *metav1.ObjectMeta, tm *metav1.TypeMeta) {
		decodeStrict(t, dir+file, singleDoc(t, dir+file), out)
		m.objects[file] = meta
		m.types[file] = *tm
	}
	load("namespace.yaml", &m.ns, &m.ns.ObjectMeta, &m.ns.TypeMeta)
	load("serviceaccount.yaml", &m.sa, &m.sa.ObjectMeta, &m.sa.TypeMeta)
	m.cm = loadConfigMap(t)
	m.objects["configmap.yaml"] = &m.cm.ObjectMeta
	m.types["configmap.yaml"] = m.cm.TypeMeta
	load("deployment.yaml", &m.deploy, &m.deploy.ObjectMeta, &m.deploy.TypeMeta)
	load("service.yaml", &m.svc, &m.svc.ObjectMeta, &m.svc.TypeMeta)
	load("pdb.yaml", &m.pdb, &m.pdb.ObjectMeta, &m.pdb.TypeMeta)
	load("hpa.yaml", &m.hpa, &m.hpa.ObjectMeta, &m.hpa.TypeMeta)
	return m
}

func TestKubernetesManifests(t *testing.T) {
	m := loadK8s(t)

	t.Run("kinds", func(t *testing.T) {
		want := map[string]string{
			"namespace.yaml":      "v1/Namespace",
			"serviceaccount.yaml": "v1/ServiceAccount",
			"configmap.yaml":      "v1/ConfigMap",
			"deployment.yaml":     "apps/v1/Deployment",
			"service.yaml":        "v1/Service",
			"pdb.yaml":            "policy/v1/PodDisruptionBudget",
			"hpa.yaml":            "autoscaling/v2/HorizontalPodAutoscaler",
		}
		for file, w := range want {
			if got := m.types[file].APIVersion + "/" + m.types[file].Kind; got != w {
				t.Errorf("%s: %s, want %s", file, got, w)
			}
		}
	})

	t.Run("kustomization", func(t *testing.T) {
		k := m.kust
		if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
			t.Errorf("kustomization.yaml: %s/%s", k.APIVersion, k.Kind)
		}
		if k.Namespace != namespace || m.ns.Name != namespace {
			t.Errorf("namespace: kustomization %q, namespace.yaml %q, want %q", k.Namespace, m.ns.Name, namespace)
		}
		files, err := filepath.Glob("kubernetes/*.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var onDisk []string
		for _, f := range files {
			if b := filepath.Base(f); b != "kustomization.yaml" {
				onDisk = append(onDisk, b)
			}
		}
		listed := slices.Clone(k.Resources)
		sort.Strings(onDisk)
		sort.Strings(listed)
		if !slices.Equal(onDisk, listed) {
			t.Errorf("kustomization resources %v, files %v", listed, onDisk)
		}
		image := m.deploy.Spec.Template.Spec.Containers[0].Image
		if len(k.Images) != 1 || !strings.HasPrefix(image, k.Images[0].Name+":") {
			t.Errorf("kustomization images %+v do not name the Deployment's image %q", k.Images, image)
		}
	})

	t.Run("namespaces", func(t *testing.T) {
		for file, meta := range m.objects {
			if file == "namespace.yaml" {
				continue
			}
			if meta.Namespace != namespace {
				t.Errorf("%s: namespace %q, want %q (also for kubectl apply -f without kustomize)", file, meta.Namespace, namespace)
			}
		}
	})

	podLabels := m.deploy.Spec.Template.Labels
	selects := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return true
	}
	c := m.deploy.Spec.Template.Spec.Containers[0]
	containerPorts := map[string]int32{}
	for _, p := range c.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}

	t.Run("deployment", func(t *testing.T) {
		d := m.deploy
		ps := d.Spec.Template.Spec
		if d.Spec.Replicas != nil {
			t.Errorf("deployment: spec.replicas is set; the HPA owns the replica count")
		}
		if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels) {
			t.Errorf("deployment: selector does not select its own pods")
		}
		if len(ps.Containers) != 1 {
			t.Fatalf("deployment: %d containers, want 1", len(ps.Containers))
		}
		if want := []string{"serve", "--config", "/etc/edgeauthz/config.yaml"}; !slices.Equal(c.Args, want) {
			t.Errorf("deployment: args %q, want %q", c.Args, want)
		}
		if containerPorts["grpc"] != grpcPort || containerPorts["http"] != httpPort || len(containerPorts) != 2 {
			t.Errorf("deployment: ports %v, want grpc=%d http=%d", containerPorts, grpcPort, httpPort)
		}
		probe := func(what string, p *corev1.Probe, path string) {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("deployment: no HTTP %s probe", what)
				return
			}
			port := p.HTTPGet.Port
			if p.HTTPGet.Path != path || !(port == intstr.FromString("http") || port == intstr.FromInt32(httpPort)) {
				t.Errorf("deployment: %s probe %s on port %s, want %s on http (%d)", what, p.HTTPGet.Path, port.String(), path, httpPort)
			}
		}
		probe("liveness", c.LivenessProbe, "/healthz")
		probe("readiness", c.ReadinessProbe, "/readyz")
		probe("startup", c.StartupProbe, "/healthz")

		// Security: restricted Pod Security Standard.
		psc, sc := ps.SecurityContext, c.SecurityContext
		if psc == nil || sc == nil {
			t.Fatal("deployment: pod and container securityContext are required")
		}
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("deployment: runAsNonRoot is not true on pod and container")
		}
		if psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("deployment: runAsUser must be a non-zero UID (images may not declare one)")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("deployment: readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("deployment: allowPrivilegeEscalation is not false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("deployment: privileged")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
			t.Errorf("deployment: capabilities %+v, want drop [ALL] and add none", sc.Capabilities)
		}
		for what, s := range map[string]*corev1.SeccompProfile{"pod": psc.SeccompProfile, "container": sc.SeccompProfile} {
			if s == nil || s.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("deployment: %s seccompProfile is not RuntimeDefault", what)
			}
		}
		if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
			t.Errorf("deployment: the service account token is mounted; edgeauthz does not use the API")
		}
		if ps.ServiceAccountName != m.sa.Name {
			t.Errorf("deployment: serviceAccountName %q, serviceaccount.yaml %q", ps.ServiceAccountName, m.sa.Name)
		}

		// Resources: requests for scheduling and the HPA, a memory limit.
		req, lim := c.Resources.Requests, c.Resources.Limits
		if req.Cpu().IsZero() || req.Memory().IsZero() {
			t.Errorf("deployment: cpu and memory requests are required (the HPA scales on CPU)")
		}
		if lim.Memory().IsZero() || lim.Memory().Cmp(*req.Memory()) < 0 {
			t.Errorf("deployment: memory limit %v must be set and ≥ the request %v", lim.Memory(), req.Memory())
		}
	})

	t.Run("config", func(t *testing.T) {
		ps := m.deploy.Spec.Template.Spec
		configPath := c.Args[len(c.Args)-1]
		var cfgVol *corev1.Volume
		mounts := map[string]corev1.VolumeMount{}
		for _, vm := range c.VolumeMounts {
			mounts[vm.MountPath] = vm
		}
		vm, ok := mounts[path.Dir(configPath)]
		if !ok {
			t.Fatalf("deployment: nothing mounted at %s", path.Dir(configPath))
		}
		if vm.SubPath != "" || !vm.ReadOnly {
			t.Errorf("deployment: config mount must be read-only and without subPath (subPath mounts never see ConfigMap updates)")
		}
		for i := range ps.Volumes {
			if ps.Volumes[i].Name == vm.Name {
				cfgVol = &ps.Volumes[i]
			}
		}
		if cfgVol == nil || cfgVol.ConfigMap == nil || cfgVol.ConfigMap.Name != m.cm.Name {
			t.Fatalf("deployment: %s is not the ConfigMap %q", path.Dir(configPath), m.cm.Name)
		}
		raw, ok := m.cm.Data[path.Base(configPath)]
		if !ok {
			t.Fatalf("configmap: no %s", path.Base(configPath))
		}
		// edgeauthz's own loader, as the container runs it: unknown keys refused, defaults
		// filled, relative paths resolved against the mount. It reads no other file.
		cfg, err := config.ParseServer(configPath, []byte(raw))
		if err != nil {
			t.Fatalf("configmap config.yaml: %v", err)
		}
		if cfg.Listen.GRPC != fmt.Sprintf("0.0.0.0:%d", grpcPort) || cfg.Listen.HTTP != fmt.Sprintf("0.0.0.0:%d", httpPort) {
			t.Errorf("config.yaml: listen %+v, want 0.0.0.0 on the container ports", cfg.Listen)
		}
		if cfg.Listen.AuthzPrefix != "/authz" {
			t.Errorf("config.yaml: listen.authz_prefix %q: the Envoy http_service and nginx configs use /authz", cfg.Listen.AuthzPrefix)
		}
		src, isFile := strings.CutPrefix(cfg.Policy.Source, "file://")
		switch {
		case !isFile:
			t.Errorf("config.yaml: policy source %q is not the ConfigMap's file", cfg.Policy.Source)
		case path.Dir(src) != path.Dir(configPath):
			t.Errorf("config.yaml: policy source %q is not in the ConfigMap mount %s", cfg.Policy.Source, path.Dir(configPath))
		default:
			if _, ok := m.cm.Data[path.Base(src)]; !ok {
				t.Errorf("config.yaml: policy source %q: the ConfigMap has no %s", cfg.Policy.Source, path.Base(src))
			}
		}
		if d := cfg.Policy.PersistDir; d != "" {
			pm, ok := mounts[d]
			if !ok || pm.ReadOnly {
				t.Errorf("config.yaml: persist_dir %s is not a writable mount (the root filesystem is read-only)", d)
			}
			// The key that authenticates the persisted policy: from a Secret,
			// read-only, not in the state volume.
			km, ok := mounts[path.Dir(cfg.Policy.PersistKeyFile)]
			var kv *corev1.Volume
			for i := range ps.Volumes {
				if ok && ps.Volumes[i].Name == km.Name {
					kv = &ps.Volumes[i]
				}
			}
			if kv == nil || kv.Secret == nil || !km.ReadOnly || km.SubPath != "" {
				t.Errorf("config.yaml: persist_key_file %s is not on a read-only Secret mount", cfg.Policy.PersistKeyFile)
			} else if kv.Secret.Optional != nil && *kv.Secret.Optional {
				t.Errorf("deployment: the persist key Secret is optional; edgeauthz refuses to start without it")
			}
		}
		switch o := cfg.DecisionLog.Output; o {
		case "stdout", "stderr", "off", "none":
		default:
			if _, ok := mounts[path.Dir(o)]; !ok || mounts[path.Dir(o)].ReadOnly {
				t.Errorf("config.yaml: decision_log.output %s is not on a writable mount", o)
			}
		}
		if cfg.Headers.Prefix != "x-auth-" {
			t.Errorf("config.yaml: headers.prefix %q: the Envoy and nginx configs expect x-auth-", cfg.Headers.Prefix)
		}
		if len(cfg.Tokens.Issuers) == 0 {
			t.Errorf("config.yaml: no token issuer")
		}
		for _, is := range cfg.Tokens.Issuers {
			if is.JWKSFile != "" || is.HMACSecretFile != "" {
				t.Errorf("config.yaml: issuer %q reads a key file, which the Deployment does not mount", is.Issuer)
			}
		}
		if _, err := config.IdentityConfig(cfg); err != nil {
			t.Errorf("config.yaml: tokens: %v", err)
		}
		loadExamplePolicy(t)
	})

	t.Run("service", func(t *testing.T) {
		s := m.svc
		if s.Name != serviceName || !selects(s.Spec.Selector) {
			t.Errorf("service: name %q, selector %v does not select the Deployment's pods", s.Name, s.Spec.Selector)
		}
		want := map[string]struct {
			port  int32
			proto string
		}{"grpc": {grpcPort, "grpc"}, "http": {httpPort, "http"}}
		if len(s.Spec.Ports) != len(want) {
			t.Errorf("service: %d ports, want %d", len(s.Spec.Ports), len(want))
		}
		for _, p := range s.Spec.Ports {
			w, ok := want[p.Name]
			if !ok {
				t.Errorf("service: unexpected port %q", p.Name)
				continue
			}
			if p.Port != w.port || p.AppProtocol == nil || *p.AppProtocol != w.proto {
				t.Errorf("service: port %s = %d appProtocol %q, want %d %s", p.Name, p.Port, deref(p.AppProtocol), w.port, w.proto)
			}
			tp := p.TargetPort
			if !(tp.Type == intstr.String && containerPorts[tp.StrVal] == w.port) && !(tp.Type == intstr.Int && tp.IntVal == w.port) {
				t.Errorf("service: port %s targets %s, which is not container port %d", p.Name, tp.String(), w.port)
			}
		}
	})

	t.Run("pdb-hpa", func(t *testing.T) {
		if m.pdb.Spec.Selector == nil || !selects(m.pdb.Spec.Selector.MatchLabels) {
			t.Errorf("pdb: selector does not select the Deployment's pods")
		}
		h := m.hpa.Spec
		if h.ScaleTargetRef.Kind != "Deployment" || h.ScaleTargetRef.Name != m.deploy.Name || h.ScaleTargetRef.APIVersion != "apps/v1" {
			t.Errorf("hpa: scaleTargetRef %+v is not the Deployment", h.ScaleTargetRef)
		}
		if h.MinReplicas == nil || *h.MinReplicas < 2 || h.MaxReplicas < *h.MinReplicas {
			t.Fatalf("hpa: replicas %d..%d, want at least 2", deref(h.MinReplicas), h.MaxReplicas)
		}
		if ma := m.pdb.Spec.MinAvailable; ma == nil || ma.Type != intstr.Int || ma.IntVal < 1 || ma.IntVal >= *h.MinReplicas {
			t.Errorf("pdb: minAvailable %v must be ≥1 and below the HPA's minReplicas %d, or drains block", ma, *h.MinReplicas)
		}
		cpu := false
		for _, mt := range h.Metrics {
			if mt.Type == autoscalingv2.ResourceMetricSourceType && mt.Resource != nil && mt.Resource.Name == corev1.ResourceCPU {
				cpu = mt.Resource.Target.Type == autoscalingv2.UtilizationMetricType && mt.Resource.Target.AverageUtilization != nil
			}
		}
		if !cpu {
			t.Errorf("hpa: no CPU utilization target")
		}
	})
}

// deref returns *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// ---------------------------------------------------------------------------------------
// Istio

type k8sResource struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            json.RawMessage   `json:"spec"`
}

func loadMeshConfig(t *testing.T) *meshv1alpha1.MeshConfig {
	t.Helper()
	const file = "istio/mesh-config.yaml"
	var top map[string]json.RawMessage
	if err := json.Unmarshal(toJSON(t, file, singleDoc(t, file)), &top); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(top) != 1 || top["meshConfig"] == nil {
		t.Fatalf("%s: want exactly one top-level key, meshConfig (istiod Helm values)", file)
	}
	var mc meshv1alpha1.MeshConfig
	decodeProto(t, file, top["meshConfig"], &mc)
	checkProtoTree(t, file, &mc)
	return &mc
}

func TestIstio(t *testing.T) {
	mc := loadMeshConfig(t)
	var svc corev1.Service
	decodeStrict(t, "kubernetes/service.yaml", singleDoc(t, "kubernetes/service.yaml"), &svc)

	var provider *meshv1alpha1.MeshConfig_ExtensionProvider
	for _, p := range mc.GetExtensionProviders() {
		if p.GetName() == "edgeauthz" {
			provider = p
		}
	}
	if provider == nil {
		t.Fatal("mesh-config.yaml: no extension provider named edgeauthz")
	}
	g := provider.GetEnvoyExtAuthzGrpc()
	if g == nil {
		t.Fatal("mesh-config.yaml: the edgeauthz provider is not envoyExtAuthzGrpc")
	}
	if want := fmt.Sprintf("%s.%s.svc.cluster.local", svc.Name, svc.Namespace); g.GetService() != want {
		t.Errorf("mesh-config.yaml: service %q, want %q (kubernetes/service.yaml)", g.GetService(), want)
	}
	var svcGRPC int32
	for _, p := range svc.Spec.Ports {
		if p.Name == "grpc" {
			svcGRPC = p.Port
		}
	}
	if int32(g.GetPort()) != svcGRPC || svcGRPC == 0 {
		t.Errorf("mesh-config.yaml: port %d, the Service's grpc port is %d", g.GetPort(), svcGRPC)
	}
	if g.GetFailOpen() {
		t.Errorf("mesh-config.yaml: failOpen is true")
	}
	if g.GetStatusOnError() != "503" {
		t.Errorf("mesh-config.yaml: statusOnError %q, want \"503\" (as Envoy's status_on_error)", g.GetStatusOnError())
	}
	checkTimeout(t, "mesh-config.yaml", "timeout", g.GetTimeout().AsDuration(), g.GetTimeout() != nil)
	if b := g.GetIncludeRequestBodyInCheck(); b == nil || b.GetMaxRequestBytes() == 0 || !b.GetAllowPartialMessage() || !b.GetPackAsBytes() {
		t.Errorf("mesh-config.yaml: includeRequestBodyInCheck %v, want bounded, partial allowed, packed as bytes", b)
	}
	if n := mc.GetPathNormalization().GetNormalization(); n != meshv1alpha1.MeshConfig_ProxyPathNormalization_MERGE_SLASHES &&
		n != meshv1alpha1.MeshConfig_ProxyPathNormalization_DECODE_AND_MERGE_SLASHES {
		t.Errorf("mesh-config.yaml: pathNormalization %v: slashes are not merged", n)
	}

	const file = "istio/authorization-policy.yaml"
	docs := yamlDocs(readFile(t, file))
	if len(docs) == 0 {
		t.Fatalf("%s: empty", file)
	}
	for i, doc := range docs {
		var r k8sResource
		decodeStrict(t, file, doc, &r)
		where := fmt.Sprintf("%s[%d] %s/%s", file, i, r.Metadata.Namespace, r.Metadata.Name)
		if r.APIVersion != "security.istio.io/v1" || r.Kind != "AuthorizationPolicy" {
			t.Errorf("%s: %s %s", where, r.APIVersion, r.Kind)
		}
		if r.Metadata.Name == "" || r.Metadata.Namespace == "" {
			t.Errorf("%s: name and namespace are required", where)
		}
		var ap securityv1beta1.AuthorizationPolicy
		decodeProto(t, where, r.Spec, &ap)
		checkProtoTree(t, where, &ap)
		if ap.GetAction() != securityv1beta1.AuthorizationPolicy_CUSTOM {
			t.Errorf("%s: action %v, want CUSTOM", where, ap.GetAction())
		}
		if ap.GetProvider().GetName() != provider.GetName() {
			t.Errorf("%s: provider %q, mesh-config.yaml defines %q", where, ap.GetProvider().GetName(), provider.GetName())
		}
		if len(ap.GetRules()) == 0 {
			t.Errorf("%s: no rules: a CUSTOM policy without rules never calls edgeauthz", where)
		}
		if len(ap.GetSelector().GetMatchLabels()) == 0 && len(ap.GetTargetRefs()) == 0 {
			t.Errorf("%s: no selector: the policy would apply to every workload in its namespace", where)
		}
		for _, rule := range ap.GetRules() {
			for _, to := range rule.GetTo() {
				if len(to.GetOperation().GetNotPaths()) > 0 || len(to.GetOperation().GetNotMethods()) > 0 {
					t.Errorf("%s: a rule excludes paths or methods from edgeauthz; mark them public in the policy instead", where)
				}
			}
		}
	}
}

// checkUpstreamMTLS: the edgeauthz cluster speaks TLS 1.2 or later with h2,
// presents a client certificate (mutual TLS) and accepts only a server
// certificate chaining to the CA with edgeauthz's SPIFFE ID.
func checkUpstreamMTLS(t *testing.T, c *envoyConfig) {
	t.Helper()
	ts := c.clusters["edgeauthz"].GetTransportSocket()
	if ts == nil {
		t.Fatalf("%s: edgeauthz cluster has no transport_socket", c.file)
	}
	var up tlsv3.UpstreamTlsContext
	if err := ts.GetTypedConfig().UnmarshalTo(&up); err != nil {
		t.Fatalf("%s: transport_socket is not an UpstreamTlsContext: %v", c.file, err)
	}
	if err := up.ValidateAll(); err != nil {
		t.Fatalf("%s: %v", c.file, err)
	}
	ctc := up.GetCommonTlsContext()
	if v := ctc.GetTlsParams().GetTlsMinimumProtocolVersion(); v < tlsv3.TlsParameters_TLSv1_2 {
		t.Errorf("%s: tls_minimum_protocol_version = %v, want TLSv1_2 or later", c.file, v)
	}
	if !slices.Contains(ctc.GetAlpnProtocols(), "h2") {
		t.Errorf("%s: alpn_protocols lacks h2: gRPC needs HTTP/2", c.file)
	}
	if len(ctc.GetTlsCertificates()) == 0 || ctc.GetTlsCertificates()[0].GetPrivateKey() == nil {
		t.Errorf("%s: no client certificate: edgeauthz with ca_file refuses the connection", c.file)
	}
	vc := ctc.GetValidationContext()
	if vc.GetTrustedCa() == nil {
		t.Errorf("%s: no trusted_ca: the server is not verified", c.file)
	}
	spiffe := false
	for _, m := range vc.GetMatchTypedSubjectAltNames() {
		if m.GetSanType() == tlsv3.SubjectAltNameMatcher_URI && strings.HasPrefix(m.GetMatcher().GetExact(), "spiffe://") {
			spiffe = true
		}
	}
	if !spiffe {
		t.Errorf("%s: no URI SAN matcher for edgeauthz's SPIFFE ID", c.file)
	}
}
