#!/usr/bin/env bash
# One command that runs the whole test suite from a fresh Debian machine: install (with the test
# clients), build, then every unit and end-to-end test through ctest. Each test has its own timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

# The fuzz targets as real libFuzzer binaries under ASan and UBSan (clang), each for KABAR_FUZZ_SECONDS
# (10 s): what clients and backends send (tokens, policies, the /sse query, /ws messages, Pusher frames,
# Pusher REST publish bodies, MQTT messages, WebSocket frames) gets fuzzed on every run, not only replayed. Only the eight
# targets and what they test are built here (docs/testing.md); scripts/fuzz-long.sh runs them longer.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKABAR_FUZZ=ON -DKABAR_SANITIZE=ON -DKABAR_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz --target authz_fuzz_token authz_fuzz_policy gateway_fuzz_sse_query gateway_fuzz_ws_message \
  gateway_fuzz_pusher_message gateway_fuzz_rest_body bridge_fuzz_mqtt_envelope gateway_fuzz_ws_frame
(cd build-fuzz && ctest --output-on-failure -R '_fuzz_')

scripts/build.sh -DKABAR_BUILD_TESTS=ON
cd build
ctest --output-on-failure --timeout 300 -j "${KABAR_TEST_JOBS:-1}" "$@"
