#!/usr/bin/env bash
# Regenerates docs/configuration.md from the configuration table (parkwatch config --markdown).
# An integration test fails when the committed file differs from what this prints.
set -euo pipefail
cd "$(dirname "$0")/.."
PW=${1:-build/parkwatch}
{
  cat <<'HEAD'
# Configuration

parkwatch reads INI. Values are applied in order: the defaults below, then the file given with
`--config FILE`, then each `--set section.key=value` on the command line (every key can be set
that way). An unknown key or an out-of-range value stops the daemon at start with a message
naming it. `parkwatch config --defaults` prints a complete commented file;
`parkwatch config --check [--config FILE] [--set …]` validates and prints the effective values.

Durations are written `500ms`, `30s`, `10m`, `12h`, `30d`, `5y` (and combinations such as
`1h30m`); sizes `512KiB`, `64MiB`, `1GiB`. "runtime" marks keys meant to be changeable while the
daemon runs.

This file is generated from the table in `src/base/config_keys.h` by
`scripts/gen-config-doc.sh`; do not edit the table below by hand.

HEAD
  "$PW" config --markdown
} > docs/configuration.md
