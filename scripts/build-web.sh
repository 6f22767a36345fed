#!/usr/bin/env bash
# Builds the browser package wasm-client/pkg/ (git-ignored): the wasm core
# (cargo, wasm32, `js` feature, profile `web`: opt-level z) through wasm-bindgen --target web and
# wasm-opt -Os, plus the JS wrapper, types and README from wasm-client/js/.
# Skips the wasm steps when the wasm is newer than every Rust input; always
# refreshes the JS files (a copy, the React bindings in react/ too). Prints the wasm size raw and gzipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/wasm-lib.sh

pkg=wasm-client/pkg
core=$pkg/core
wasm=$core/myflashplay_client_bg.wasm

if [ -f "$wasm" ] && [ -z "$(find wasm-client/src wasm-client/Cargo.toml Cargo.toml Cargo.lock scripts/wasm-lib.sh \
      -newer "$wasm" -print -quit)" ]; then
  echo "[build-web] wasm up to date" >&2
else
  echo "[build-web] cargo rustc (wasm32, profile web, feature js, cdylib only)" >&2
  # cdylib alone: with the manifest's rlib beside it the wasm is ~10% larger.
  cargo rustc -p myflashplay-client --lib --target wasm32-unknown-unknown --profile web \
    --features js --crate-type cdylib
  # Built aside and moved in at the end: a failed step never leaves a
  # wasm that the up-to-date check above would take for finished.
  tmp=$pkg/core.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  echo "[build-web] wasm-bindgen --target web, wasm-opt -Os" >&2
  wasm_finish target/wasm32-unknown-unknown/web/myflashplay_client.wasm "$tmp" myflashplay_client
  rm -rf "$core"
  mv "$tmp" "$core"
fi

# The wrapper, its types, the README and the package manifest.
for f in wasm-client/js/*; do
  [ -f "$f" ] && cp "$f" "$pkg/"
done
for d in client react; do
  rm -rf "${pkg:?}/$d"
  cp -r "wasm-client/js/$d" "$pkg/$d"
done

raw=$(stat -c %s "$wasm")
gz=$(wasm_gzip "$wasm")
printf '[build-web] %s: %d bytes raw, %d bytes gzip (%.1f KiB)\n' \
  "$wasm" "$raw" "$gz" "$(echo "$gz / 1024" | bc -l)" >&2
read -r stock_raw stock_gz <<<"$(stock_sizes)" || true
if [ -n "${stock_raw:-}" ]; then
  echo "[build-web] $(wasm_vs_stock "$raw" "$gz" "$stock_raw" "$stock_gz")" >&2
fi
