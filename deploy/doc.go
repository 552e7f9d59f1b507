// Package deploy holds edgeauthz's deployment configuration, not Go code:
//
//   - envoy/: Envoy bootstraps asking edgeauthz over gRPC (envoy-grpc.yaml) or HTTP
//     (envoy-http.yaml);
//   - istio/: the mesh extension provider and CUSTOM AuthorizationPolicies;
//   - kubernetes/: the Deployment, Service, ConfigMap, PDB, HPA and kustomization;
//   - nginx/: an auth_request configuration.
//
// Its tests hold every file to the upstream schema it is written for: Envoy's v3 API
// (go-control-plane, every typed_config decoded and validated, deprecated fields refused),
// istio.io/api and k8s.io/api (unknown fields refused), and assert the settings that keep
// the deployment fail-closed and consistent with itself (ports, names, namespaces). The
// nginx configuration is checked with `nginx -t` and exercised through a real nginx; the
// test helper that starts it (startNginx in nginx_test.go) is meant for end-to-end tests
// against a real edgeauthz server too.
package deploy
