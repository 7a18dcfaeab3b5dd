#!/usr/bin/env bash
# `npm test`: set up whatever is missing, then run every test suite (unit, component, and
# integration/e2e against real runsc). Extra arguments go to vitest.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
echo "[burrow test] lint"
npx --no-install biome check .
echo "[burrow test] Go agent tests"
bash packages/agent/test.sh
echo "[burrow test] TypeScript tests"
npx --no-install vitest run "$@"
