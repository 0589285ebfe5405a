#!/usr/bin/env bash
# Configures and builds kabar into build/ (Release with debug info). Extra args go to cmake configure.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja "$@" >/dev/null
# Two jobs: the machines have 2 cores and Beast translation units are memory-hungry.
cmake --build build --parallel "${KABAR_BUILD_JOBS:-2}"
