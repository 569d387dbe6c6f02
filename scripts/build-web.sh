#!/usr/bin/env bash
# Builds the browser app into dist/ with trunk (offline): the page, the widget, the engine's
# wasm bundle (burn's CPU backend) and the shipped models.
#   scripts/build-web.sh            debug-profile bundle (what the tests use; quicker to build)
#   scripts/build-web.sh --release  optimised bundle (what the demo serves)
#   ... --webgpu                    also the WebGPU bundle (dist/gpu/), which the page loads
#                                   when the browser has a WebGPU adapter. Its build is long
#                                   (~40 CPU-minutes cold: burn's wgpu runtime for wasm32).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

RELEASE=""
WEBGPU=0
for arg in "$@"; do
  case "$arg" in
    --release) RELEASE="--release" ;;
    --webgpu) WEBGPU=1 ;;
    *) echo "unknown option $arg (--release, --webgpu)" >&2; exit 2 ;;
  esac
done

scripts/setup-web.sh
# What the wasm bundles are built from (the weights are fetched at run time, not built in).
source_stamp() {
  git ls-files -co --exclude-standard -- Cargo.toml Cargo.lock core web | sort | xargs sha256sum | sha256sum | cut -d' ' -f1
}
# A WebGPU bundle from an earlier build survives the main build (trunk empties dist/), but
# only if it was built from the same sources: a stale one would run an older model.
keep=""
if [ "$WEBGPU" = 0 ] && [ -d dist/gpu ]; then
  if [ "$(cat dist/gpu/SOURCE_STAMP 2>/dev/null)" = "$(source_stamp)" ]; then
    keep=$(mktemp -d)
    mv dist/gpu "$keep/"
  else
    echo "dropping dist/gpu: built from other sources (rebuild it with --webgpu)" >&2
    rm -rf dist/gpu
  fi
fi
trunk build $RELEASE --offline
if [ -n "$keep" ]; then
  mv "$keep/gpu" dist/gpu
  rmdir "$keep"
fi
if [ "$WEBGPU" = 1 ]; then
  trunk build $RELEASE --offline --config Trunk.toml web/gpu.html --dist dist/gpu
  source_stamp > dist/gpu/SOURCE_STAMP
fi
ls -l dist/*.wasm dist/gpu/*.wasm 2>/dev/null || true
