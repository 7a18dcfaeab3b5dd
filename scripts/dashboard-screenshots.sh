#!/usr/bin/env bash
# Regenerates the dashboard screenshots in docs/img (docs/dashboard.md shows them): runs the
# dashboard's browser test (real server, real runsc, headless Debian chromium), which saves a
# full-page PNG at each step when BURROW_SCREENSHOTS names a directory.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
mkdir -p docs/img
BURROW_SCREENSHOTS="$ROOT/docs/img" npx --no-install vitest run tests/e2e/dashboard.e2e.test.ts
ls -l docs/img/dashboard-*.png
