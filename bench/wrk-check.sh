#!/bin/sh
# Cross-checks autocannon against wrk: the bare uWebSockets.js ceiling and Vigil's
# /predict breast-cancer at 64 connections, each measured by both tools (one thread each,
# same single body), and reports autocannon / wrk. Extra options go to bench/run.js,
# e.g. `bench/wrk-check.sh --duration 5`.
set -eu
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || { echo "wrk is not installed (Debian package wrk)" >&2; exit 1; }
[ -f dist/bench/run.js ] || { echo "dist/bench/run.js is missing: npm run build first" >&2; exit 1; }
exec node dist/bench/run.js --wrk-check "$@"
