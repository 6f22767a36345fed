#!/usr/bin/env bash
# Starts the backend locally: wrangler dev (workerd) on 127.0.0.1:8787 with
# local SQLite under .wrangler/state.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
source scripts/env.sh
bash scripts/build-worker.sh
exec wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" --local "$@"
