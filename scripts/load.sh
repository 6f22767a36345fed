#!/usr/bin/env bash
# `make load`: the load test (scripts/load.mjs) against a fresh `wrangler
# dev`, after building what it needs. LOAD_LEARNERS=50,100,200 runs one
# round per count; see scripts/load.mjs for the other settings.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
source scripts/env.sh
bash scripts/build-worker.sh
bash scripts/build-web.sh
status=0
IFS=',' read -ra counts <<< "${LOAD_LEARNERS:-50}"
for n in "${counts[@]}"; do
  LOAD_LEARNERS="$n" node scripts/load.mjs || status=1
done
exit $status
