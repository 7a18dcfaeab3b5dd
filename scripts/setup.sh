#!/usr/bin/env bash
# Makes this checkout ready to run: host packages, npm dependencies, the TypeScript build,
# the Go agent and shim, and the `base` template. Every step is skipped when already done,
# so a second run takes a couple of seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
log() { printf '[burrow setup] %s\n' "$*" >&2; }

bash scripts/setup-host.sh

# npm dependencies, exactly as package-lock.json pins them (the lock is never rewritten).
bash scripts/install-npm-deps.sh

# TypeScript (incremental) and the Go binaries (rebuilt only when a .go file changed).
log "building TypeScript"
npx --no-install tsc -b
# npm links workspace bins at install time, before dist/ exists; make sure `npx burrow` works.
chmod +x packages/cli/dist/main.js packages/server/dist/main.js
mkdir -p node_modules/.bin
[[ -L node_modules/.bin/burrow ]] || ln -sf ../@burrow/cli/dist/main.js node_modules/.bin/burrow
[[ -L node_modules/.bin/burrow-server ]] || ln -sf ../@burrow/server/dist/main.js node_modules/.bin/burrow-server
# The dashboard's static files (Vite), rebuilt only when its sources or the SDK changed.
bash scripts/build-dashboard.sh
agent_bin=packages/agent/bin/burrow-agent
if [[ ! -x "$agent_bin" || ! -x packages/agent/bin/burrow-shim ]] \
  || [[ -n "$(find packages/agent -name '*.go' -newer "$agent_bin" -print -quit)" ]] \
  || [[ packages/agent/go.mod -nt "$agent_bin" ]]; then
  log "building the Go agent and shim"
  bash packages/agent/build.sh
fi

TEMPLATES_DIR="${BURROW_TEMPLATES_DIR:-${BURROW_DATA_DIR:-$HOME/.burrow}/templates}"
bash scripts/build-base-template.sh "$TEMPLATES_DIR"
# The code-interpreter template (Jupyter kernel, pandas, matplotlib, a Node kernel): its Debian
# packages are downloaded once (a few minutes); a changed service only re-assembles (seconds).
# BURROW_SKIP_CODE_INTERPRETER=1 skips it; `burrow create --template code-interpreter` then 404s.
if [[ "${BURROW_SKIP_CODE_INTERPRETER:-}" != "1" ]]; then
  bash scripts/build-code-interpreter-template.sh "$TEMPLATES_DIR"
fi
