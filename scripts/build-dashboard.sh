#!/usr/bin/env bash
# Builds the dashboard (packages/dashboard → packages/dashboard/dist, served by the server at `/`)
# with Vite. Skipped when dist/ is newer than every source file, so a second run is instant.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DASH="$ROOT/packages/dashboard"
log() { printf '[burrow setup] %s\n' "$*" >&2; }

stamp="$DASH/dist/index.html"
# The SDK's build is part of the bundle too.
if [[ -f "$stamp" ]] \
  && [[ -z "$(find "$DASH/src" "$DASH/index.html" "$DASH/vite.config.ts" "$DASH/package.json" \
    "$ROOT/packages/sdk/dist" "$ROOT/packages/core/dist" -newer "$stamp" -print -quit)" ]]; then
  exit 0
fi
log "building the dashboard"
cd "$DASH"
# Errors only: Vite warns that the SDK's Node-only helpers (template upload) are left out of a browser build.
npx --no-install vite build --logLevel error
