#!/usr/bin/env bash
# The project's test command (the README's). Runs every test; fails on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -timeout 15m ./... "$@"
