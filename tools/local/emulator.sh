#!/usr/bin/env bash
# Makes sure an AWS emulator answers at $AWS_ENDPOINT_URL.
#
#   emulator.sh up     reuse whatever answers there (moto, fakecloud, LocalStack…);
#                      otherwise, for a local address, start one there: the project's
#                      pinned moto, or with EMULATOR=fakecloud the pinned fakecloud
#                      (tools/local/install-fakecloud.sh builds it once). Prints "started"
#                      if it started one, "reused" if not.
#   emulator.sh down   stop the emulator that `up` started, if any.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${VENV:-$root/.venv}"
state="$root/.local"
endpoint="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
emulator="${EMULATOR:-moto}"
hostport="${endpoint#*://}"; hostport="${hostport%%/*}"
host="${hostport%:*}"; port="${hostport##*:}"
# One pid file and log per port: `make test` on one port must not stop `make run`'s moto.
pidfile="$state/emulator-$port.pid"
logfile="$state/emulator-$port.log"

answers() {
  # Any HTTP answer counts: LocalStack and moto answer differently, but both answer.
  "$venv/bin/python" - "$endpoint" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
PY
}

up() {
  if answers; then
    echo "emulator: using the one at $endpoint" >&2
    echo reused
    return
  fi
  case "$host" in
    127.*|localhost) ;;
    *) echo "emulator: nothing answers at $endpoint, and it is not a local address to start moto on" >&2; exit 1 ;;
  esac
  mkdir -p "$state"
  # A background job of a script ignores the terminal's Ctrl-C: the emulator stops when
  # its owner says so (`down`), after the functions have finished their batches.
  case "$emulator" in
    moto)
      # moto, with DynamoDB requests made atomic (see emulator_server.py).
      "$venv/bin/python" "$root/tools/local/emulator_server.py" -H "$host" -p "$port" >"$logfile" 2>&1 &
      ;;
    fakecloud)
      local binary
      binary="$("$root/tools/local/install-fakecloud.sh")"
      # In memory (its default): each run starts from a blank account.
      "$binary" --addr "$host:$port" >"$logfile" 2>&1 &
      ;;
    *) echo "emulator: EMULATOR=$emulator is neither moto nor fakecloud" >&2; exit 2 ;;
  esac
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    if answers; then
      echo "emulator: $emulator started at $endpoint (log: .local/emulator-$port.log)" >&2
      echo started
      return
    fi
    sleep 0.2
  done
  echo "emulator: $emulator did not answer at $endpoint within 20s; see .local/emulator-$port.log" >&2
  down
  exit 1
}

down() {
  if [[ -f "$pidfile" ]]; then
    local pid
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    # The emulator finishes its open long polls first; wait (up to 20 s), so that a run right
    # after this one does not find a dying emulator still answering and reuse it.
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    echo "emulator: stopped" >&2
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
