#!/usr/bin/env bash
# `make run`: emulator up, the template deployed, every function running, the HTTP API on
# localhost. Ctrl-C stops all of it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
stack="${STACK:-pizza-shop}"
manifest=".local/$stack.json"

# Build first (every function, the runner and the CLI in one cargo call), so the emulator
# is not left waiting through a compile.
cargo build --quiet --bins
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug"
started="$(tools/local/emulator.sh up)"
if [[ "$started" == started ]]; then
  trap 'tools/local/emulator.sh down' EXIT
fi
.venv/bin/python tools/local/deploy.py --stack-name "$stack" --manifest "$manifest" ${DEPLOY_PARAMETERS:-}
"$bin/pizza" stock seed --manifest "$manifest"
"$bin/pizza-local" --manifest "$manifest" --http "${HTTP_ADDR:-127.0.0.1:3000}" "$@"
