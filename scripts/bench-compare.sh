#!/usr/bin/env bash
# `make bench-compare`: our Worker under workerd against a minimal samod
# server and automerge-repo's Node sync server on the same workloads
# (tests/bench/compare.mjs; docs/benchmarks.md). Builds the Worker and,
# once, the samod server (release, into its own git-ignored target dir; it
# is not a member of the main workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

bash scripts/build-worker.sh
if [[ ",${BENCH_SERVERS:-samod}," == *",samod,"* ]]; then
  (cd tests/bench/samod-server && cargo build --release --quiet)
fi
exec node tests/bench/compare.mjs
