#!/usr/bin/env bash
# Vets and unit-tests the Go code of packages/agent (the agent and the shim).
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS=-mod=mod GOCACHE="${GOCACHE:-/root/.cache/go-build}"
go vet ./...
go test ./...
