#!/usr/bin/env bash
# The browser package as an app installs it: `npm pack` of wasm-client/pkg
# (built by build-web.sh), its exports map (the core and ./react, ESM with
# types), then publint and @arethetypeswrong/cli over the tarball. attw
# runs with the esm-only profile: the package is ESM only (wasm, top-level
# URL of its wasm), so CommonJS and node10 resolution are out of scope.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tarball=$(cd wasm-client/pkg && npm pack --silent --pack-destination "$tmp")
tar -xzf "$tmp/$tarball" -C "$tmp"
node -e '
  const fs = require("node:fs");
  const dir = process.argv[1];
  const pkg = JSON.parse(fs.readFileSync(`${dir}/package.json`, "utf8"));
  const need = { ".": ["./index.d.ts", "./index.js"], "./react": ["./react/index.d.ts", "./react/index.js"] };
  for (const [entry, [types, js]] of Object.entries(need)) {
    const e = pkg.exports?.[entry];
    if (e?.types !== types || e?.default !== js) throw new Error(`exports[${entry}] is ${JSON.stringify(e)}`);
    for (const f of [types, js]) if (!fs.existsSync(`${dir}/${f}`)) throw new Error(`${f} is not in the tarball`);
  }
  if (pkg.type !== "module") throw new Error("not ESM");
  if (!fs.existsSync(`${dir}/core/myflashplay_client_bg.wasm`)) throw new Error("the wasm is not in the tarball");
  if (pkg.dependencies?.react || !pkg.peerDependencies?.react) throw new Error("react must be a peer dependency");
  console.log(`[check-package] ${Object.keys(pkg.exports).join(", ")}: ESM with types, wasm included`);
' "$tmp/package"
publint "$tmp/package" --strict
attw "$tmp/$tarball" --profile esm-only
