#!/usr/bin/env bash
# Thin wrapper: the script is connections.mjs next to this file (its header says what it does and its options).
# Needs build/kabar (KABAR_BIN overrides) and tests/e2e/node_modules (npm ci --prefix tests/e2e).
set -euo pipefail
exec node "$(dirname "${BASH_SOURCE[0]}")/connections.mjs" "$@"
