#!/usr/bin/env bash
# The README's test command (`npm test`): set-up, build, lint, then every test with node --test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Kafka broker's jars, once, before test files start brokers in parallel.
bash scripts/kafka.sh fetch
npx eslint .
mapfile -t files < <(find dist/src dist/jepsen-like-tests -name '*.test.js' 2>/dev/null | sort)
if [ ${#files[@]} -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
node --test --test-reporter=spec --test-concurrency=2 "${files[@]}"
