# Sourced by build-web.sh and wasm-size.sh: the steps after cargo that turn
# a cdylib into what the browser downloads, and how its size is reported.

# wasm_finish IN OUT_DIR NAME: wasm-bindgen --target web, then wasm-opt -Os
# (which also drops the name section) into OUT_DIR/NAME_bg.wasm.
wasm_finish() {
  local in=$1 out=$2 name=$3
  "$WASM_BINDGEN_BIN" --target web --out-dir "$out" --out-name "$name" "$in"
  "$WASM_OPT_BIN" -Os --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types \
    "$out/${name}_bg.wasm" -o "$out/opt.wasm"
  mv "$out/opt.wasm" "$out/${name}_bg.wasm"
}

# wasm_gzip FILE: its size gzipped at level 9, in bytes.
wasm_gzip() {
  gzip -9 -c "$1" | wc -c
}

# Stock Automerge's own wasm (npm @automerge/automerge, a dev dependency):
# the browser wasm's budget is half of it.
STOCK_AUTOMERGE_WASM=node_modules/@automerge/automerge/dist/automerge.wasm

# stock_sizes: "RAW GZIP" of stock Automerge's wasm; nothing when it is not
# installed.
stock_sizes() {
  [ -f "$STOCK_AUTOMERGE_WASM" ] || return 0
  echo "$(stat -c %s "$STOCK_AUTOMERGE_WASM") $(wasm_gzip "$STOCK_AUTOMERGE_WASM")"
}

# wasm_vs_stock RAW GZIP STOCK_RAW STOCK_GZIP: "0.431x raw, 0.543x gzip of
# stock Automerge's wasm (…; budget 0.5x)".
wasm_vs_stock() {
  printf "%.3fx raw, %.3fx gzip of stock Automerge's wasm (%d / %d B; budget 0.5x)" \
    "$(echo "$1 / $3" | bc -l)" "$(echo "$2 / $4" | bc -l)" "$3" "$4"
}
