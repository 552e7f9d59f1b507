// Package deploy holds edgeauthz's deployment configuration, not Go code:
//
//   - envoy/: Envoy bootstraps asking edgeauthz over gRPC (envoy-grpc.yaml) or HTTP
//     (envoy-http.yaml);
//   - istio/: the mesh extension provider and CUSTOM AuthorizationPolicies;
//   - kubernetes/: the Deployment, Service, ConfigMap, PDB, HPA and kustomization;
//   - helm/edgeauthz/: a Helm chart for the edge;
//   - nginx/: an auth_request configuration;
//   - caddy/: a forward_auth Caddyfile.
//
// Its tests hold every file to the upstream schema it is written for: Envoy's v3 API
// (go-control-plane, every typed_config decoded and validated, deprecated fields refused),
// istio.io/api and k8s.io/api (unknown fields refused), and assert the settings that keep
// the deployment fail-closed and consistent with itself (ports, names, namespaces). The
// nginx and Caddy configurations are checked with `nginx -t` and `caddy validate` and
// exercised through the real servers in front of a real edgeauthz; the chart is checked
// with the real `helm lint` and `helm template`. The helpers that start the proxies
// (startNginx in nginx_test.go, startCaddy in caddy_test.go) are meant for other
// end-to-end tests too.
package deploy
