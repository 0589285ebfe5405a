#!/usr/bin/env bash
# One command that runs the whole test suite from a fresh Debian machine: install (with the test
# clients), build, then every unit and end-to-end test through ctest. Each test has its own timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh -DKABAR_BUILD_TESTS=ON
cd build
ctest --output-on-failure --timeout 300 -j "${KABAR_TEST_JOBS:-1}" "$@"
