#!/usr/bin/env bash
# `npm start`: set up whatever is missing, then serve with embedded defaults (SQLite, local disk).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
exec node "$ROOT/packages/server/dist/main.js"
