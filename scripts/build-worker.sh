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
# worker-build keeps the wasm name section (~0.45 MB of function names);
# drop it. Panics still report their message. Same feature set as
# worker-build's own pass, so no newer encodings reach workerd.
wasm-opt build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
touch "$out"
