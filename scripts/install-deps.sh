#!/usr/bin/env bash
# Installs the system packages the test suite needs (PostgreSQL, nginx, Caddy) when
# they are missing. Runs as root on Debian; does nothing when everything is present.
# (helm, a pinned Go module, is installed by the Makefile's tools target.)
set -euo pipefail
need=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need+=(postgresql); fi
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then need+=(nginx-light); fi
if ! command -v caddy >/dev/null 2>&1 && [ ! -x /usr/bin/caddy ]; then need+=(caddy); fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need ${need[*]} but not running as root; install them with apt-get" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages start their own default services; the tests start throwaway ones.
service postgresql stop >/dev/null 2>&1 || true
service nginx stop >/dev/null 2>&1 || true
service caddy stop >/dev/null 2>&1 || true
