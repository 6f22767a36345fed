#!/usr/bin/env bash
# Runs every test suite: native unit, fixture and property tests (cargo),
# then the end-to-end tests against the real Worker under workerd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
source scripts/env.sh

echo "== cargo test (native) =="
cargo test --workspace

echo "== building the Worker =="
bash scripts/build-worker.sh

echo "== end-to-end tests (wrangler dev / workerd) =="
node --test --test-concurrency=1 tests/e2e/
