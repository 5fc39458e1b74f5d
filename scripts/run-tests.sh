#!/usr/bin/env bash
# The test command of the README (and of CI): installs what the tests need on a fresh
# machine, then runs the default suite on Python 3.11 and the engine, simulation and
# catalogue suites on 3.12 and 3.13. Long stress runs are opt-in: `python -m pytest -m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

echo "== installing simharness with its test extras ($($PY --version))"
$PY -m pip install -q -e '.[test]'

# Headless Chromium renders the HTML report in its test (Debian package).
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (Debian package)"
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium install failed"
  fi
fi

echo "== default suite on $($PY --version)"
$PY -m pytest -q -n 2

# The controlled loop, its simulated I/O and the catalogue must behave the same on 3.12
# and 3.13 (asyncio differs between versions: since 3.12 communicate() closes stdin).
for version in 3.12 3.13; do
  other=$(ls -d "$PYENV_ROOT"/versions/"$version".*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$other" ]; then
    echo "== Python $version not found under $PYENV_ROOT: those suites not run on it"
    continue
  fi
  echo "== engine, simulation and catalogue suites on $($other --version)"
  $other -m pip install -q -e '.[test]'
  $other -m pytest -q -n 2 tests/test_engine_*.py tests/test_sim_*.py tests/test_catalogue_*.py
done
