#!/usr/bin/env bash
# Installs the Debian packages Burrow needs on the host, idempotently.
# Runs as root on Debian 12; prints what it does; exits non-zero with a clear message otherwise.
set -euo pipefail

log() { printf '[burrow setup] %s\n' "$*" >&2; }

if [[ "$(uname -s)" != "Linux" ]]; then
  log "Burrow needs Linux (Debian 12 recommended): gVisor runs only on Linux."
  exit 1
fi
if [[ "$(id -u)" != "0" ]]; then
  log "Burrow's setup must run as root (it installs runsc, golang-go, mmdebstrap, iproute2 with apt-get"
  log "and mounts overlay filesystems). Re-run as root, e.g.: sudo npm start"
  exit 1
fi

BACKPORTS_LIST=/etc/apt/sources.list.d/burrow-bookworm-backports.sources
need_update=0

if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "enabling bookworm-backports (runsc 0.0~20240729 lives there)"
  cat >"$BACKPORTS_LIST" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi

# Packages from bookworm itself, and the one we take from backports. chromium is only for the
# dashboard's browser test (tests/e2e/dashboard.e2e.test.ts drives it headless). postgresql and the
# swift-* servers are the real services cluster mode's tests start on their own ports
# (tests/services/); setup never starts or enables them as system services.
BASE_PACKAGES=(golang-go mmdebstrap iproute2 iptables conntrack openssl util-linux ca-certificates procps attr systemd skopeo umoci chromium
  postgresql swift-proxy swift-account swift-container swift-object)
missing=()
for pkg in "${BASE_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
runsc_ok=0
if dpkg-query -W -f='${Version}' runsc 2>/dev/null | grep -q '^0.0~2024'; then runsc_ok=1; fi

if [[ ${#missing[@]} -gt 0 || $runsc_ok -eq 0 ]]; then
  need_update=1
fi

if [[ $need_update -eq 1 ]]; then
  log "apt-get update (other configured repositories may be unreachable; that is tolerated)"
  apt-get update -o Acquire::Retries=2 >/dev/null 2>&1 || log "apt-get update reported errors; continuing with what was fetched"
fi
export DEBIAN_FRONTEND=noninteractive
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing: ${missing[*]}"
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ $runsc_ok -eq 0 ]]; then
  log "installing runsc from bookworm-backports"
  apt-get install -y --no-install-recommends -t bookworm-backports runsc >/dev/null
fi
# PostgreSQL refuses to run as root; the tests run it as the `postgres` account the package creates.
if ! id -u postgres >/dev/null 2>&1; then
  log "creating the postgres system account"
  useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi
log "host packages ready: runsc $(dpkg-query -W -f='${Version}' runsc), go $(go version | awk '{print $3}')"
