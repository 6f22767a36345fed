#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint (installed from PyPI by
# scripts/bootstrap.sh; found next to that Python's other scripts when
# they are not on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(command -v actionlint || true)
if [ -z "$bin" ]; then
  bin="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/actionlint"
fi
"$bin" -version | head -1
"$bin" .github/workflows/*.yml
echo "actionlint: .github/workflows clean"
