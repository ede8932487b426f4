#!/usr/bin/env bash
# Installs what parkwatch needs to build, run the demo and run its tests: Debian packages and the
# web assets (npm ci). Idempotent and quiet when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential pkg-config clang
  libuv1-dev libmicrohttpd-dev libsqlite3-dev sqlite3 libsodium-dev
  libmosquitto-dev mosquitto mosquitto-clients libmodbus-dev
  libzstd-dev zlib1g-dev libcjson-dev libcurl4-openssl-dev curl libinih-dev libcmocka-dev
  libpcre2-dev libsnappy-dev prometheus libssl-dev
  nats-server libnats-dev
  nodejs chromium
  golang-go golang-golang-x-mod-dev
)
# Benchmarks compare against VictoriaMetrics; only installed when asked (make bench sets it).
if [ "${PARKWATCH_BENCH_DEPS:-0}" = 1 ]; then PKGS+=(victoria-metrics); fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
fi

# Web assets: node_modules from the lock file, then the ES module builds the browser loads are
# copied into web/vendor (no bundler). Redone only when the lock file changes.
if [ -f package-lock.json ]; then
  stamp=node_modules/.parkwatch-stamp
  if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    touch "$stamp"
  fi
  if [ -x scripts/vendor-web.sh ]; then scripts/vendor-web.sh; fi
fi
