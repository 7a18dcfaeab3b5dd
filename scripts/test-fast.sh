#!/usr/bin/env bash
# `npm run test:fast`: the quick loop. Every unit and component test (the real server app on the
# fake runtime): no root, no runsc, no network namespaces, no build, no type-check (vitest strips
# types; `npm run lint` and `npx tsc -p tsconfig.tests.json` check them).
# Left out, because they need root and real runsc: tests/e2e/** and the gVisor driver's own test;
# and tests/services/**, which start real PostgreSQL and Swift (S3) servers.
# `npm test` still runs everything. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
# The config runs files one at a time for the e2e suites' sake; these do not share the host.
npx --no-install vitest run --configLoader runner --fileParallelism \
  --exclude 'tests/e2e/**' --exclude 'tests/services/**' --exclude 'packages/runtime/test/gvisor-runtime.test.ts' "$@"
