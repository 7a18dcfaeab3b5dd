#!/usr/bin/env bash
# The npm step of scripts/setup.sh: installs the dependencies package-lock.json pins, with
# `npm ci`, which never rewrites the lock, so a fresh clone stays byte-identical after setup
# (scripts/check-clean-clone.sh and tests/setup-clean.test.ts hold that). Skipped when
# node_modules is already installed from this lock.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
log() { printf '[burrow setup] %s\n' "$*" >&2; }

# better-sqlite3 compiles from source here: ~1-2 min on the first run.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]] \
  || [[ ! -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ]]; then
  log "installing npm dependencies (first run compiles better-sqlite3; this takes a minute or two)"
  # `npm ci`: installs exactly what package-lock.json pins and never rewrites it, so a clone stays
  # clean (the lock lists every platform's optional biome binary, which `npm ci` requires).
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
fi
