#!/usr/bin/env bash
# Installs the Python side into .venv/ (made here with python3 -m venv): the package `rme`
# built from python/ by maturin (PyO3 extension over rme-core and rme-trainer), Flower
# (flwr 1.41.0: 1.42.0 needs a certifi newer than the registry serves) and pytest.
#   scripts/setup-python.sh            cargo's dev profile: reuses what `cargo test --workspace` built
#   scripts/setup-python.sh --release  optimised (for experiments; one more build of burn)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=dev
case "${1:-}" in
  --release) profile=release ;;
  "") ;;
  *) echo "usage: $0 [--release]" >&2; exit 2 ;;
esac
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  # Debian's own python3 keeps venv in a package of its own.
  python3 -m venv .venv 2>/dev/null || { rm -rf .venv; apt-get install -y -q python3-venv >/dev/null; python3 -m venv .venv; }
fi
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" "flwr==1.41.0" "pytest>=7" "maturin>=1.9,<2"
# No build isolation: the maturin just installed builds it (its backend runs the `maturin`
# binary by name, hence the PATH), nothing is fetched at build time.
PATH="$PWD/.venv/bin:$PATH" MATURIN_PEP517_ARGS="--profile $profile" "${pip[@]}" --no-build-isolation ./python
.venv/bin/python -c "import rme, flwr; print('rme', rme.__file__, '| flwr', flwr.__version__)"
