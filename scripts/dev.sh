#!/usr/bin/env bash
# The README's main-job command (`npm run dev`): set-up, then a local 3-node cluster
# (`strata dev`: ports 7001-7003, data in ./.strata/dev; extra flags are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/strata.js dev "$@"
