#!/usr/bin/env bash
# Installs the tools the browser build needs, each only when missing or at the wrong version:
# the wasm32 target, trunk 0.21.14 (newer trunk needs a newer rustc), and wasm-bindgen-cli at
# exactly the wasm-bindgen version in Cargo.lock. Then fetches every crate once, so that
# trunk (offline) finds them.
# With --browser, also installs what the browser tests need: Debian's chromium and npm's
# playwright-core (tests/e2e/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$BINDGEN_VERSION" ] || { echo "could not read the wasm-bindgen version from Cargo.lock" >&2; exit 1; }
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

rustup target add wasm32-unknown-unknown >/dev/null

# The tools are built for build speed, not run speed: trunk's own release profile asks for fat
# LTO and one codegen unit (≈ 17 CPU-minutes on 2 cores); these overrides (cargo config beats
# a package's manifest) cut that several-fold, and the tools stay more than fast enough.
quick_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    CARGO_PROFILE_RELEASE_DEBUG=false cargo install "$@"
}

if [ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]; then
  echo "==> installing trunk $TRUNK_VERSION (several minutes, once)"
  quick_install --locked trunk --version "$TRUNK_VERSION"
fi
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $BINDGEN_VERSION" ]; then
  echo "==> installing wasm-bindgen-cli $BINDGEN_VERSION (several minutes, once)"
  # Not --locked: its own lock file names a crate version this registry does not serve.
  quick_install wasm-bindgen-cli --version "$BINDGEN_VERSION" --force
fi
# trunk's config names the same version; a drift would make trunk try to download one.
grep -q "wasm_bindgen = \"$BINDGEN_VERSION\"" Trunk.toml || { echo "Trunk.toml's [tools] wasm_bindgen is not $BINDGEN_VERSION (Cargo.lock's)" >&2; exit 1; }

# Every platform's crates (trunk's `cargo metadata` needs them all), so trunk can run offline.
cargo fetch --locked >/dev/null

if [ "${1:-}" = "--browser" ]; then
  if ! command -v chromium >/dev/null; then
    echo "==> installing chromium (Debian)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -d tests/e2e/node_modules/playwright-core ]; then
    echo "==> installing playwright-core (npm; the browser is Debian's, never downloaded)"
    (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
  fi
fi
