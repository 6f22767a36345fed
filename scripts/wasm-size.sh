#!/usr/bin/env bash
# Where the browser wasm's bytes go: builds the package (build-web.sh) and
# the floor crate tests/bench/wasm-floor (Automerge alone, making the calls
# the client makes) with the same profile and passes, and prints both sizes
# raw and gzip, the package's own share, and both beside stock Automerge's
# own wasm (npm): the budget is half of it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/wasm-lib.sh

bash scripts/build-web.sh
pkg=wasm-client/pkg/core/myflashplay_client_bg.wasm

echo "[wasm-size] cargo rustc -p myflashplay-wasm-floor (wasm32, profile web, cdylib only)" >&2
cargo rustc -p myflashplay-wasm-floor --lib --target wasm32-unknown-unknown --profile web \
  --crate-type cdylib
floor_dir=target/wasm-floor
rm -rf "$floor_dir"
mkdir -p "$floor_dir"
wasm_finish target/wasm32-unknown-unknown/web/myflashplay_wasm_floor.wasm "$floor_dir" floor
floor=$floor_dir/floor_bg.wasm

pkg_raw=$(stat -c %s "$pkg"); pkg_gz=$(wasm_gzip "$pkg")
floor_raw=$(stat -c %s "$floor"); floor_gz=$(wasm_gzip "$floor")
printf '%-46s %10s %10s\n' "" "raw B" "gzip B"
printf '%-46s %10d %10d\n' "browser package wasm" "$pkg_raw" "$pkg_gz"
printf '%-46s %10d %10d\n' "Automerge alone (tests/bench/wasm-floor)" "$floor_raw" "$floor_gz"
printf '%-46s %10d %10d\n' "the package's own share (difference)" \
  $((pkg_raw - floor_raw)) $((pkg_gz - floor_gz))
read -r stock_raw stock_gz <<<"$(stock_sizes)" || true
if [ -n "${stock_raw:-}" ]; then
  printf '%-46s %10d %10d\n' "stock Automerge's wasm (npm, its own build)" "$stock_raw" "$stock_gz"
  printf '%-46s %10d %10d\n' "budget: half of it" $((stock_raw / 2)) $((stock_gz / 2))
  echo "the package: $(wasm_vs_stock "$pkg_raw" "$pkg_gz" "$stock_raw" "$stock_gz")"
fi
