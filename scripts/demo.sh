#!/usr/bin/env bash
# Builds what the demo needs and serves it on http://127.0.0.1:${PORT:-8080}/ .
# Usage: scripts/demo.sh [--no-serve]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required to serve the page" >&2; exit 1; }

echo "==> building rme"
# The whole workspace, so that features are unified as in the test build (no rebuild of burn).
cargo build --workspace --locked
echo "==> rendering the demo scene"
rm -rf dist
mkdir -p dist/demo dist/static
cp index.html dist/
cp -r static/. dist/static/
target/debug/rme demo --preset "${RME_DEMO_PRESET:-D7}" --seed "${RME_DEMO_SEED:-3}" --samples "${RME_DEMO_SAMPLES:-200}" --out dist/demo
if [ "${1:-}" = "--no-serve" ]; then
  echo "dist/ is ready"
  exit 0
fi
PORT="${PORT:-8080}"
echo "==> serving dist/ at http://127.0.0.1:${PORT}/ (Ctrl-C stops)"
exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory dist
