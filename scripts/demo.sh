#!/usr/bin/env bash
# The two-device demo: builds the browser package, serves the demo page on
# http://127.0.0.1:5173 (an origin ALLOWED_ORIGINS lists) and runs the
# Worker on http://127.0.0.1:8787. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build-web.sh
node wasm-client/demo/serve.mjs --server "http://127.0.0.1:${PORT:-8787}" --port 5173 &
static_pid=$!
trap 'kill "$static_pid" 2>/dev/null || true' EXIT
echo "[demo] open http://127.0.0.1:5173/ (two devices side by side)" >&2
bash scripts/dev.sh
