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
