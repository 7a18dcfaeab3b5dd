#!/usr/bin/env bash
# Builds the `code-interpreter` template directory, once: <templates-dir>/code-interpreter/rootfs
# plus template.json (which also names the start command and ready port the server registers).
# Usage: build-code-interpreter-template.sh <templates-dir>
#
# Two stages, so that editing the in-sandbox service does not download packages again:
#  1. Debian packages (mmdebstrap, the base template's list plus Jupyter's kernel, matplotlib,
#     pandas, numpy) into <templates-dir>/.cache/code-interpreter-packages-<hash>/rootfs;
#  2. a hard-linked copy of that tree (`cp -al`: no data copied; template layers are read-only)
#     plus the service files from templates/code-interpreter/ of this repository.
# Each stage is built under a temporary name and renamed into place.
set -euo pipefail

log() { printf '[burrow template] %s\n' "$*" >&2; }

TEMPLATES_DIR=${1:?usage: build-code-interpreter-template.sh <templates-dir>}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/templates/code-interpreter"
NAME=code-interpreter
PACKAGES="bash,coreutils,python3,nodejs,git,curl,ca-certificates,procps,less,findutils,grep,sed,tar,gzip,xz-utils"
PACKAGES="$PACKAGES,python3-ipykernel,python3-jupyter-client,python3-matplotlib,python3-pandas,python3-numpy"
PKG_RECIPE="2:no-recommends:${PACKAGES}"
PKG_HASH=$(printf '%s' "$PKG_RECIPE" | sha256sum | cut -c1-16)
SERVICE_HASH=$(cd "$SRC" && cat service.py js_kernel.mjs | sha256sum | cut -c1-16)
RECIPE_VERSION="1:${PKG_HASH}:${SERVICE_HASH}"

DEST="$TEMPLATES_DIR/$NAME"
if [[ -f "$DEST/template.json" ]] && grep -qF "\"recipe\": \"$RECIPE_VERSION\"" "$DEST/template.json"; then
  exit 0
fi

CACHE="$TEMPLATES_DIR/.cache"
PKG_DIR="$CACHE/$NAME-packages-$PKG_HASH"
mkdir -p "$CACHE"
if [[ ! -x "$PKG_DIR/rootfs/usr/bin/python3" ]]; then
  PKG_WORK=$(mktemp -d "$CACHE/.build-$NAME.XXXXXX")
  trap 'rm -rf "$PKG_WORK"' EXIT
  log "building the $NAME template: Debian packages (ipykernel, jupyter-client, matplotlib, pandas, numpy, nodejs); the first run downloads ~100 MB and takes a few minutes"
  # Without Recommends: matplotlib and pandas would pull in compilers, boost and scipy (1.5 GB).
  mmdebstrap --mode=root --variant=minbase --include="$PACKAGES" --aptopt='APT::Install-Recommends "false"' \
    --customize-hook='chroot "$1" useradd --create-home --uid 1000 --user-group --shell /bin/bash user' \
    --customize-hook='mkdir -p "$1/opt/burrow/bin" "$1/opt/burrow/run" && touch "$1/opt/burrow/bin/burrow-agent"' \
    --customize-hook='rm -rf "$1/var/cache/apt/archives/"*.deb "$1/var/lib/apt/lists/"*' \
    --customize-hook='printf "127.0.0.1\tlocalhost\n127.0.1.1\tsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n" > "$1/etc/hosts"' \
    --customize-hook='printf "# Sandboxes have no DNS server yet: fail lookups at once instead of timing out.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n" > "$1/etc/resolv.conf"' \
    --customize-hook='sed -i "s/\"\$(id -u)\"/\"\${EUID:-\$(id -u)}\"/g" "$1/etc/profile"' \
    --customize-hook='chroot "$1" python3 -c "import matplotlib.pyplot, pandas, ipykernel, jupyter_client"' \
    bookworm "$PKG_WORK/rootfs" http://deb.debian.org/debian 2>&1 | while IFS= read -r line; do
      case "$line" in I:*) log "${line#I: }" ;; E:*|W:*) log "$line" ;; esac
    done
  test -x "$PKG_WORK/rootfs/usr/bin/python3" || { log "mmdebstrap finished without python3; see messages above"; exit 1; }
  # Older package trees are no longer needed: built templates hold their own hard links.
  find "$CACHE" -maxdepth 1 -name "$NAME-packages-*" -exec rm -rf {} +
  mv "$PKG_WORK" "$PKG_DIR"
  trap - EXIT
fi

log "assembling the $NAME template (service $SERVICE_HASH)"
WORK=$(mktemp -d "$TEMPLATES_DIR/.build-$NAME.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cp -al "$PKG_DIR/rootfs" "$WORK/rootfs"
install -d -m 0755 "$WORK/rootfs/opt/burrow/code-interpreter"
install -m 0644 "$SRC/service.py" "$SRC/js_kernel.mjs" "$WORK/rootfs/opt/burrow/code-interpreter/"

cat >"$WORK/template.json" <<JSON
{
  "name": "$NAME",
  "recipe": "$RECIPE_VERSION",
  "builtAt": "$(date -u +%FT%TZ)",
  "config": {
    "user": "user",
    "workdir": "/home/user",
    "env": { "MPLBACKEND": "module://matplotlib_inline.backend_inline" },
    "startCmd": "exec python3 /opt/burrow/code-interpreter/service.py",
    "readyPort": 49999,
    "readyTimeoutMs": 120000,
    "exposedPorts": [49999]
  }
}
JSON
if [[ -d "$DEST" ]]; then
  mkdir -p "$TEMPLATES_DIR/.retired"
  mv "$DEST" "$TEMPLATES_DIR/.retired/$NAME-$(date -u +%Y%m%dT%H%M%S)"
fi
mv "$WORK" "$DEST"
trap - EXIT
log "$NAME template ready at $DEST"
