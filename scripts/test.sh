#!/usr/bin/env bash
# Installs what the tests need and runs every test (CPU only; no GPU needed):
#   formatting, clippy and module-cycle checks, Rust unit and CLI end-to-end tests, the Python
#   package's and the Flower federation's pytest suites (python/tests, federated/tests), the trunk
#   build of the web app (WebGPU + CPU in one bundle), and the browser tests (headless Debian
#   chromium + playwright-core, on the CPU backend and on SwiftShader's WebGPU).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
start=$(date +%s)
step() { echo "==> $1 ($(( $(date +%s) - start )) s)"; }

step "tools: wasm32 target, trunk, wasm-bindgen-cli, chromium, playwright-core"
scripts/setup-web.sh --browser

step "style: cargo fmt --check, no module import cycles"
cargo fmt --all --check
python3 scripts/check-modules.py

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (core, trainer CLI end-to-end, web engine)"
cargo test --workspace --locked

step "Python: the rme package (maturin, dev profile), flwr 1.41.0, pytest; the Flower federation (separate processes on 127.0.0.1)"
scripts/setup-python.sh
.venv/bin/python -m pytest -q python/tests federated/tests

step "trunk builds the web app (one wasm bundle: WebGPU + CPU backends) into dist/"
scripts/build-web.sh

step "browser tests (headless chromium): demo page on CPU and on WebGPU (SwiftShader), CSV upload, widget, page = native RMSE"
(cd tests/e2e && node --test --test-concurrency=1 --test-reporter=spec .)

echo "all tests passed in $(( $(date +%s) - start )) s"
