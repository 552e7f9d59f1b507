package extauthz_test

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

// A relation condition that reads {request.source_ip} gets Envoy's source
// address over gRPC; without a usable address the template is unbound.
func TestSourceAddressFeedsConditions(t *testing.T) {
	h := start(t, harnessOptions{policy: []byte(`
model: |
  model
    schema 1.1
  type user
  type report
    relations
      define viewer: [user with in_networks]
  condition in_networks(user_ip: ipaddress, cidrs: list<string>) {
    cidrs.exists(c, user_ip.in_cidr(c))
  }
tuples:
  - 'report:q3#viewer@user:anne with in_networks {"cidrs": ["10.0.0.0/8", "2001:db8::/32"]}'
routes:
  - name: read-report
    match: GET /reports/{id}
    relation:
      object: "report:{params.id}"
      relation: viewer
      context: {user_ip: "{request.source_ip}"}
`)})
	a, _, _ := testKeys(t)
	tok := mint(t, a, map[string]any{"sub": "anne"})
	for _, tc := range []struct {
		name, source string
		code         codes.Code
		reason       string
	}{
		{"inside the network", "10.1.2.3", codes.OK, ""},
		{"IPv6 inside", "2001:db8::7", codes.OK, ""},
		{"IPv4-mapped IPv6 inside", "::ffff:10.1.2.3", codes.OK, ""},
		{"outside the network", "192.0.2.1", codes.PermissionDenied, "relation_denied"},
		{"no source", "", codes.PermissionDenied, "template_unbound"},
		{"not an address", "example.com", codes.PermissionDenied, "template_unbound"},
		{"zoned address", "fe80::1%eth0", codes.PermissionDenied, "template_unbound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := req{path: "/reports/q3", headers: bearer(tok)}.checkRequest()
			if tc.source != "" {
				cr.Attributes.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{Address: tc.source, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 4711}},
				}}}
			}
			res, err := h.client.Check(t.Context(), cr)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(res.GetStatus().GetCode()); got != tc.code {
				t.Fatalf("status %v, want %v", got, tc.code)
			}
			if tc.reason != "" {
				if got := meta(res, "reason"); got != tc.reason {
					t.Errorf("reason %q, want %q", got, tc.reason)
				}
			}
		})
	}
}
