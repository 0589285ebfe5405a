#!/usr/bin/env bash
# One command from a fresh Debian machine to a running kabar: install, build, serve with the embedded
# defaults (own mosquitto on 127.0.0.1:1883, SQLite in ./data, HTTP and the demo page on :8080).
# Arguments are passed to `kabar serve` (e.g. --port 9090, --config kabar.json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh -DKABAR_BUILD_BENCH=OFF
exec build/kabar serve "$@"
