#!/usr/bin/env bash
# `npm test`: set up whatever is missing, then run every test suite (unit, component, and
# integration/e2e against real runsc). Extra arguments go to vitest.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
echo "[burrow test] lint and type-check the tests"
npx --no-install biome check .
npx --no-install tsc -p tsconfig.tests.json
echo "[burrow test] Go agent tests"
bash packages/agent/test.sh
echo "[burrow test] TypeScript tests"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line that any CI log reader understands.
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)' "$report" || true
exit "$status"
