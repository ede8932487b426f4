#!/usr/bin/env bash
# Copies the ES module builds the browser loads from node_modules into web/vendor (served as
# static files; no bundler). Quiet and idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p web/vendor
copy() { if ! cmp -s "$1" "$2"; then cp "$1" "$2"; fi; }
copy node_modules/vue/dist/vue.esm-browser.prod.js web/vendor/vue.esm-browser.prod.js
copy node_modules/echarts/dist/echarts.esm.min.mjs web/vendor/echarts.esm.min.mjs
