#!/usr/bin/env bash
# Builds the `base` template rootfs with mmdebstrap from Debian bookworm, once.
# Usage: build-base-template.sh <templates-dir>
# The result is <templates-dir>/base/rootfs plus base/template.json; a build is done in a
# temporary directory and renamed into place, so an interrupted build leaves nothing half-made.
set -euo pipefail

log() { printf '[burrow template] %s\n' "$*" >&2; }

TEMPLATES_DIR=${1:?usage: build-base-template.sh <templates-dir>}
PACKAGES="bash,coreutils,python3,python3-pip,python3-venv,nodejs,npm,git,curl,ca-certificates,procps,less,findutils,grep,sed,tar,gzip,xz-utils"
# What scripts written for E2B's default image expect besides the above (docs/e2b.md lists them):
# `python`/`pip` meaning Python 3, and common command-line tools. `sudo` is not Debian's: gVisor
# runs every process with no_new_privs, so setuid programs cannot raise privileges; instead
# /usr/local/bin/sudo is the agent binary, which asks the agent (PID 1, root) to run the command
# for members of the group `sudo` (`user` is one, so it needs no password).
E2B_PARITY="python-is-python3,wget,unzip,zip,bzip2,jq,file,lsof,make,iproute2,netcat-openbsd,openssh-client,gnupg"
# Bump when the recipe below changes so existing builds are replaced.
# /etc/profile is patched to read bash's $EUID instead of forking `id -u`: every command runs
# through `bash -l`, and a fork+exec costs ~30 ms under gVisor here.
# pip is told to install next to Debian's packages (as on E2B's image, where `pip install` just
# works): root into /usr/local, `user` into ~/.local.
RECIPE_VERSION="4:${PACKAGES},${E2B_PARITY},sudo-agent"

DEST="$TEMPLATES_DIR/base"
if [[ -f "$DEST/template.json" ]] && grep -qF "\"recipe\": \"$RECIPE_VERSION\"" "$DEST/template.json"; then
  exit 0
fi

mkdir -p "$TEMPLATES_DIR"
WORK=$(mktemp -d "$TEMPLATES_DIR/.build-base.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log "building the base template (Debian bookworm with python3, nodejs, git, curl, sudo); the first run takes a few minutes"
mmdebstrap --mode=root --variant=minbase --include="$PACKAGES,$E2B_PARITY" \
  --customize-hook='chroot "$1" useradd --create-home --uid 1000 --user-group --groups sudo --shell /bin/bash user' \
  --customize-hook='ln -s /opt/burrow/bin/burrow-agent "$1/usr/local/bin/sudo"' \
  --customize-hook='printf "[global]\nbreak-system-packages = true\n" > "$1/etc/pip.conf"' \
  --customize-hook='mkdir -p "$1/opt/burrow/bin" "$1/opt/burrow/run" && touch "$1/opt/burrow/bin/burrow-agent"' \
  --customize-hook='rm -rf "$1/var/cache/apt/archives/"*.deb "$1/var/lib/apt/lists/"*' \
  --customize-hook='printf "127.0.0.1\tlocalhost\n127.0.1.1\tsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n" > "$1/etc/hosts"' \
  --customize-hook='printf "# Sandboxes have no DNS server yet: fail lookups at once instead of timing out.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n" > "$1/etc/resolv.conf"' \
  --customize-hook='sed -i "s/\"\$(id -u)\"/\"\${EUID:-\$(id -u)}\"/g" "$1/etc/profile"' \
  bookworm "$WORK/rootfs" http://deb.debian.org/debian 2>&1 | while IFS= read -r line; do
    case "$line" in I:*) log "${line#I: }" ;; E:*|W:*) log "$line" ;; esac
  done
for tool in python3 python; do
  test -x "$WORK/rootfs/usr/bin/$tool" || { log "mmdebstrap finished without $tool; see messages above"; exit 1; }
done

printf '{\n  "name": "base",\n  "recipe": "%s",\n  "builtAt": "%s"\n}\n' "$RECIPE_VERSION" "$(date -u +%FT%TZ)" >"$WORK/template.json"
# A previous build may still be the lower layer of existing sandboxes: it is moved aside to
# .retired/ (the overlay mounts keep working), never deleted while in use.
if [[ -d "$DEST" ]]; then
  mkdir -p "$TEMPLATES_DIR/.retired"
  mv "$DEST" "$TEMPLATES_DIR/.retired/base-$(date -u +%Y%m%dT%H%M%S)"
fi
mv "$WORK" "$DEST"
trap - EXIT
log "base template ready at $DEST"
