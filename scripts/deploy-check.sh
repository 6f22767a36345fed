#!/usr/bin/env bash
# Both deployments, offline: `wrangler deploy --dry-run --env <env>` checks
# the environment's configuration (bindings, migrations, observability) and
# bundles the Worker without an account or the network; then the bundle's
# compressed size is printed against Cloudflare's Worker size limits.
# Fails on a configuration warning or a bundle over the Free plan's limit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# No banner: it would ask the npm registry for a newer wrangler.
export WRANGLER_HIDE_BANNER=true

# Cloudflare's limits on a Worker's compressed (gzip) size.
FREE_KIB=$((3 * 1024))
PAID_KIB=$((10 * 1024))

bash scripts/build-worker.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for env in staging production; do
  out="$work/$env"
  log="$work/$env.log"
  if ! wrangler deploy --dry-run --outdir "$out" --env "$env" >"$log" 2>&1; then
    cat "$log"
    echo "deploy-check: the $env dry-run failed" >&2
    exit 1
  fi
  if grep -q 'WARNING' "$log"; then
    cat "$log"
    echo "deploy-check: wrangler warned about the $env configuration" >&2
    exit 1
  fi
  # wrangler's own figure: "Total Upload: <raw> KiB / gzip: <gz> KiB".
  sizes=$(grep -o 'Total Upload: [0-9.]* KiB / gzip: [0-9.]* KiB' "$log" | head -1)
  if [ -z "$sizes" ]; then
    cat "$log"
    echo "deploy-check: no bundle size in the $env dry-run output" >&2
    exit 1
  fi
  raw=$(echo "$sizes" | awk '{print $3}')
  gz=$(echo "$sizes" | awk '{print $7}')
  name=$(awk -v e="[env.$env]" '$0==e{f=1;next} f&&/^name *=/{gsub(/"/,"",$3);print $3;exit}' wrangler.toml)
  awk -v env="$env" -v name="$name" -v raw="$raw" -v gz="$gz" -v free="$FREE_KIB" -v paid="$PAID_KIB" 'BEGIN {
    printf "%-10s %-28s upload %8.1f KiB, gzip %7.1f KiB = %4.1f%% of the Free plan limit (%d KiB), %4.1f%% of the Paid limit (%d KiB)\n",
      env, name, raw, gz, 100 * gz / free, free, 100 * gz / paid, paid
    if (gz > free) { print "deploy-check: over the Free plan limit" > "/dev/stderr"; exit 1 }
  }'
done
