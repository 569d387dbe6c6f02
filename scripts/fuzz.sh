#!/usr/bin/env bash
# The long fuzz run of every input parser (measurement CSV + sidecar, query CSV, npy, map-set
# index, weights manifest, checkpoint state): INPUTS mutated inputs per parser (default
# 1 000 000) from SEED (default 1); fails on any panic or any parse over 1 s, saving those
# inputs to target/fuzz-findings/. It also refreshes tests/e2e/fixtures/fuzz/, the
# measurement parser's 20 slowest rejected inputs, which the browser test uploads.
#   scripts/fuzz.sh [INPUTS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export RME_FUZZ_INPUTS="${1:-1000000}" RME_FUZZ_SEED="${2:-1}" RME_FUZZ_WORST="$PWD/tests/e2e/fixtures/fuzz"
rm -rf "$RME_FUZZ_WORST"
start=$(date +%s)
cargo test -p rme-trainer --bin rme --locked fuzz::tests::long_run -- --ignored --nocapture 2>&1 \
  | grep -v -e '^$' -e 'panicked at' -e 'note: run with'
echo "fuzz: ${RME_FUZZ_INPUTS} inputs per parser, seed ${RME_FUZZ_SEED}, in $(( $(date +%s) - start )) s"
