#!/usr/bin/env bash
# Builds the browser app into dist/ with trunk (offline): the page, the widget, the shipped
# models and the engine's wasm bundle, which holds both of burn's backends (WebGPU, used where
# the browser offers an adapter, and the CPU backend otherwise).
#   scripts/build-web.sh            dev-profile bundle (what the tests use; quicker to build)
#   scripts/build-web.sh --release  optimised bundle (what the demo serves)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

RELEASE=""
for arg in "$@"; do
  case "$arg" in
    --release) RELEASE="--release" ;;
    --webgpu) ;; # accepted for old command lines: every bundle has WebGPU now
    *) echo "unknown option $arg (--release)" >&2; exit 2 ;;
  esac
done

scripts/setup-web.sh
trunk build $RELEASE --offline
rm -rf dist/gpu # a separate WebGPU bundle of older builds
ls -l dist/*.wasm
