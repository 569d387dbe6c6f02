#!/usr/bin/env bash
# Installs what the tests need and runs every test (CPU only; no GPU needed):
#   Rust unit and CLI end-to-end tests, a wasm32 type-check of the WebGPU engine, the trunk
#   build of the web app, and the browser tests (headless Debian chromium + playwright-core).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
start=$(date +%s)
step() { echo "==> $1 ($(( $(date +%s) - start )) s)"; }

step "tools: wasm32 target, trunk, wasm-bindgen-cli, chromium, playwright-core"
scripts/setup-web.sh --browser

step "cargo test (core, trainer CLI end-to-end, web engine)"
cargo test --workspace --locked

step "the WebGPU engine type-checks for wasm32 (its full build is scripts/build-web.sh --webgpu)"
cargo check -p rme-web --target wasm32-unknown-unknown --features webgpu --locked

step "trunk builds the web app into dist/"
scripts/build-web.sh

step "browser tests (headless chromium): demo page, CSV upload, widget, page = native RMSE"
(cd tests/e2e && node --test --test-concurrency=1 --test-reporter=spec .)

echo "all tests passed in $(( $(date +%s) - start )) s"
