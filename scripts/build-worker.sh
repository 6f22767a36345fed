#!/usr/bin/env bash
# Builds the Worker (build/worker/shim.mjs + wasm) with worker-build, offline.
# Skips when the output is newer than every input: wrangler runs this at
# start, and 4.86 runs it twice.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

out=build/worker/shim.mjs
if [ -f "$out" ] && [ -z "$(find src wasm-client/src Cargo.toml Cargo.lock wasm-client/Cargo.toml \
      -newer "$out" -print -quit)" ]; then
  echo "[build-worker] up to date" >&2
  exit 0
fi
echo "[build-worker] building the Worker (release)" >&2
worker-build --release
touch "$out"
