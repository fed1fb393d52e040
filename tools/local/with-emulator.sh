#!/usr/bin/env bash
# Runs a command with an emulator at $AWS_ENDPOINT_URL, and stops the emulator afterwards
# if this script started it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
started="$("$here/emulator.sh" up)"
if [[ "$started" == started ]]; then
  trap '"$here/emulator.sh" down' EXIT
fi
"$@"
