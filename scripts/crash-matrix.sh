#!/usr/bin/env bash
# The crash matrix: kills a node with SIGKILL under concurrent load at many
# different points (ROUNDS, default 20), restarts it each time, and checks that
# every acknowledged write survived and the state's app hash matches the chain.
# Usage: bash scripts/crash-matrix.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BBUS_CRASH_ROUNDS="${1:-20}" go test ./cmd/bbus -run 'TestKill9' -count=1 -timeout 30m -v | grep -E '^(=== RUN|--- |\s+crash_test|ok|FAIL|PASS)'
