#!/usr/bin/env bash
# `npm run example -- wordcount|windows [--brokers host:port] [--endpoints a,b,c]`: builds, then
# runs an example against the dev cluster (`npm run dev`: 127.0.0.1:7001-7003) and the local
# Kafka broker (started by scripts/kafka.sh when it is not running).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
npx tsc -p examples/tsconfig.json
exec node dist/examples/run.js "$@"
