#!/usr/bin/env bash
# Set-up shared by the README's commands: install the locked dependencies when they are missing
# or stale (npm ci also builds, through the `prepare` script), then build incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx tsc -p tsconfig.json
