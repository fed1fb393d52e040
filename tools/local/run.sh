#!/usr/bin/env bash
# `make run`: emulator up, the template deployed, every function running, the HTTP API on
# localhost. Ctrl-C stops all of it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
stack="${STACK:-pizza-shop}"
manifest=".local/$stack.json"

# Build first, so the emulator is not left waiting through a compile.
cargo build --quiet -p devrunner --bin pizza-dev
started="$(tools/local/emulator.sh up)"
if [[ "$started" == started ]]; then
  trap 'tools/local/emulator.sh down' EXIT
fi
.venv/bin/python tools/local/deploy.py --stack-name "$stack" --manifest "$manifest" ${DEPLOY_PARAMETERS:-}
cargo run --quiet -p devrunner --bin pizza-dev -- stock seed --manifest "$manifest"
cargo run --quiet -p devrunner --bin pizza-dev -- run --manifest "$manifest" --http "${HTTP_ADDR:-127.0.0.1:3000}"
