#!/usr/bin/env bash
# `make run`: serve the bundled example with a development key pair and print
# ready-to-paste requests, one allowed and one denied, over HTTP and gRPC.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/edgeauthz
keys=examples/dev-keys
[ -f "$keys/private.pem" ] || "$bin" keygen --out "$keys" >/dev/null

"$bin" test examples/policy_test.yaml

mint() { "$bin" token --key "$keys/private.pem" --ttl 8h --claims "$1"; }
ALLOW=$(mint '{"iss":"https://dev.edgeauthz.local","aud":"api","sub":"usr_2","oid":"org_1"}')
DENY=$(mint '{"iss":"https://dev.edgeauthz.local","aud":"api","sub":"usr_3","oid":"org_2"}')

cat <<TXT

edgeauthz is starting with examples/config.yaml (policy: examples/policy.yaml).
usr_2 is a viewer in org_1; usr_3 belongs to org_2. Try, in another terminal:

  # HTTP mode (as Envoy's http_service, nginx auth_request or Traefik call it)
  curl -i -H 'Authorization: Bearer $ALLOW' http://127.0.0.1:8181/authz/orgs/org_1/documents/doc123
  curl -i -H 'Authorization: Bearer $DENY' http://127.0.0.1:8181/authz/orgs/org_1/documents/doc123

  # gRPC, as Envoy's ext_authz filter calls it (grpcurl: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4)
  grpcurl -plaintext -d '{"attributes":{"request":{"http":{"method":"GET","path":"/orgs/org_1/documents/doc123","headers":{"authorization":"Bearer $ALLOW"}}}}}' 127.0.0.1:9191 envoy.service.auth.v3.Authorization/Check

  # Offline, with a trace of each requirement
  $bin check --config examples/config.yaml --token '$DENY' GET /orgs/org_1/documents/doc123

Decisions are logged below as JSON lines. Ctrl-C stops.

TXT
exec "$bin" serve --config examples/config.yaml
