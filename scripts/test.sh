#!/usr/bin/env bash
# Runs every test suite: native unit, fixture and property tests (cargo),
# the browser package (build, types), then the end-to-end tests against the
# real Worker under workerd (Node, and headless Chromium for the demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
source scripts/env.sh

echo "== cargo test (native) =="
cargo test --workspace

echo "== building the Worker =="
bash scripts/build-worker.sh

echo "== deployment dry-runs (staging, production; offline) and bundle sizes =="
bash scripts/deploy-check.sh

echo "== building the browser package =="
bash scripts/build-web.sh

echo "== tsc --noEmit over a use of the whole package API =="
tsc -p tests/types

echo "== tsc --noEmit over the React bindings used with the app's own types =="
tsc -p tests/types/react

echo "== the package as an app installs it: npm pack, exports, publint, attw =="
bash scripts/check-package.sh

echo "== end-to-end tests: native devices against workerd =="
cargo test --features e2e --test e2e_sync -- --test-threads=2

echo "== kill test: workerd kill -9ed while devices write (KILL_SEED=<n> replays a schedule) =="
cargo test --features e2e --test e2e_kill -- --nocapture

echo "== end-to-end tests: HTTP clients against workerd =="
node --test --test-concurrency=1 tests/e2e/

echo "== browser tests (headless Chromium: demo page, React bindings app; wrangler dev) =="
node --test --test-concurrency=1 tests/browser/
