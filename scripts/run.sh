#!/usr/bin/env bash
# One command from a fresh Debian machine to a running kabar: install, build, serve with the embedded
# defaults (own mosquitto on 127.0.0.1:1883, SQLite in ./data, HTTP and the demo page on :8080). When
# 1883 is taken (Debian's mosquitto.service), kabar's broker takes a free port and the log says which.
# Arguments are passed to `kabar serve` (e.g. --port 9090, --config kabar.json).
# KABAR_RUN_SKIP_BUILD=1 skips setup and build and runs $KABAR_BIN (default build/kabar): for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/kabar
if [[ ${KABAR_RUN_SKIP_BUILD:-} == 1 ]]; then
  bin=${KABAR_BIN:-build/kabar}
else
  scripts/setup.sh
  scripts/build.sh -DKABAR_BUILD_BENCH=OFF
fi
exec "$bin" serve "$@"
