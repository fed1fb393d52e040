#!/usr/bin/env bash
# Builds the pinned fakecloud, the opt-in second emulator, where it is not built yet, and
# prints its path. fakecloud (AGPL-3.0) is a separate program the tests talk to over
# HTTP, never a dependency of the project. Its release build takes about 50 minutes on
# two cores, so it is cached outside the clone and reused by every later run.
set -euo pipefail

version="${FAKECLOUD_VERSION:-0.51.0}"
cache="${FAKECLOUD_CACHE:-$HOME/.cache/fakecloud}"
binary="$cache/$version/bin/fakecloud"

if [[ ! -x "$binary" ]]; then
  echo "install-fakecloud: building fakecloud $version into $cache (about 50 minutes on two cores, once)" >&2
  cargo install fakecloud --version "$version" --locked \
    --root "$cache/$version" --target-dir "$cache/target" >&2
fi
echo "$binary"
