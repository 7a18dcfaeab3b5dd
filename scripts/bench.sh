#!/usr/bin/env bash
# `npm run bench`: set up, then measure Burrow against raw runsc in the same run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
exec node "$ROOT/bench/run.mjs"
