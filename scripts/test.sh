#!/usr/bin/env bash
# Installs what the tests need and runs every test (CPU only; no GPU needed).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
start=$(date +%s)

echo "==> toolchain targets"
rustup target add wasm32-unknown-unknown

echo "==> cargo test (core, trainer CLI end-to-end, web)"
cargo test --workspace --locked

echo "==> rme-core compiles for wasm32 (checked through the web crate, which picks getrandom's browser backend)"
cargo check -p rme-web --target wasm32-unknown-unknown --locked

echo "==> demo page renders"
scripts/demo.sh --no-serve >/dev/null
test -s dist/demo/results.json && test -s dist/demo/truth.png

echo "all tests passed in $(( $(date +%s) - start )) s"
