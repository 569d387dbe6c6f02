#!/usr/bin/env bash
# Builds everything the demo needs and serves it on http://127.0.0.1:${PORT:-8080}/ :
# installs the web tools when missing (scripts/setup-web.sh), builds the page, the widget and
# the engine's WebAssembly bundle with trunk into dist/ (static files only), and serves dist/.
# The page runs the models over WebGPU where the browser offers an adapter, and on burn's CPU
# backend compiled to wasm otherwise (one bundle holds both), in a Web Worker.
# Usage: scripts/demo.sh [--no-serve]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required to serve the page" >&2; exit 1; }

SERVE=1
BUILD_ARGS=(--release)
for arg in "$@"; do
  case "$arg" in
    --no-serve) SERVE=0 ;;
    --webgpu) ;; # accepted for old command lines: the bundle always has WebGPU
    *) echo "unknown option $arg (--no-serve)" >&2; exit 2 ;;
  esac
done

echo "==> building the web app (trunk, release)"
scripts/build-web.sh "${BUILD_ARGS[@]}"
if [ "$SERVE" = 0 ]; then
  echo "dist/ is ready"
  exit 0
fi
PORT="${PORT:-8080}"
echo "==> serving dist/ at http://127.0.0.1:${PORT}/ (embeddable widget: /static/embed.html; Ctrl-C stops)"
exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory dist
