#!/usr/bin/env bash
# CI check: a fresh clone of this commit must stay byte-identical after setup's npm step (no
# rewritten package-lock.json, no new tracked or unignored files). Clones HEAD into a temp dir,
# runs scripts/install-npm-deps.sh there (downloads and compiles the dependencies, a minute or
# two) and fails listing whatever `git status --porcelain` reports.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
clone="$(mktemp -d /tmp/burrow-clean-clone-XXXXXX)"
trap 'rm -rf "$clone"' EXIT
git clone --quiet "$ROOT" "$clone"
git -C "$clone" checkout --quiet "$(git -C "$ROOT" rev-parse HEAD)"
bash "$clone/scripts/install-npm-deps.sh"
changed="$(git -C "$clone" status --porcelain)"
if [[ -n "$changed" ]]; then
  printf '[burrow check] setup changed the clone:\n%s\n' "$changed" >&2
  exit 1
fi
echo "[burrow check] a fresh clone stays clean after setup's npm step"
