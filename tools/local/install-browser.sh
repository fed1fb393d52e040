#!/usr/bin/env bash
# Installs Debian's Chromium where it is missing: the console's browser test drives it
# headless. Needs root (or password-less sudo) and Debian's package mirror.
set -euo pipefail

browser="${CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$browser" ]]; then
  exit 0
fi
if [[ "$browser" != /usr/bin/chromium ]]; then
  echo "install-browser: CHROMIUM=$browser does not exist" >&2
  exit 1
fi
as_root=()
if [[ "$(id -u)" != 0 ]]; then
  if ! sudo -n true 2>/dev/null; then
    echo "install-browser: Chromium is missing; install it as root: apt-get install chromium" >&2
    exit 1
  fi
  as_root=(sudo -n)
fi
echo "install-browser: installing Debian's chromium (the console test's browser)"
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get install -y --no-install-recommends chromium >/dev/null; then
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y --no-install-recommends chromium >/dev/null
fi
"$browser" --version
