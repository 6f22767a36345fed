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

echo "== end-to-end tests: native devices against workerd =="
cargo test --features e2e --test e2e_sync -- --test-threads=2

echo "== end-to-end tests: HTTP clients against workerd =="
node --test --test-concurrency=1 tests/e2e/
