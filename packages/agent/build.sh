#!/usr/bin/env bash
# Builds the static Go binaries into packages/agent/bin/:
#   burrow-agent  PID 1 inside every sandbox (envd protocol)
#   burrow-shim   host helper that runs runsc as a child subreaper
#   burrow-capture host helper that copies a frozen sandbox's changed files for a checkpoint
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p bin
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOCACHE="${GOCACHE:-/root/.cache/go-build}"
for cmd in burrow-agent burrow-shim burrow-capture; do
  if [[ -d "cmd/$cmd" ]]; then
    go build -trimpath -ldflags='-s -w' -o "bin/$cmd.tmp" "./cmd/$cmd"
    mv "bin/$cmd.tmp" "bin/$cmd"
  fi
done
