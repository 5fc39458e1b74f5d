#!/usr/bin/env bash
# The test command of the README (and of CI). On a fresh machine it builds one virtual
# environment per interpreter it uses (.venvs/py3.11, .venvs/py3.12, .venvs/py3.13, git-ignored),
# installs simharness with its test extras into each (never into an interpreter's own
# site-packages), then runs the default suite on Python 3.11 and the engine, simulation and
# catalogue suites on 3.12 and 3.13. Long stress runs are opt-in: `python -m pytest -m slow`.
#
# Interpreters: $PYTHON (default python3, 3.11 here) for the default suite; 3.11, 3.12 and
# 3.13 otherwise from $PYENV_ROOT/versions/3.X.*/bin/python (newest), else python3.X on PATH.
# Tests that start another interpreter get its venv's python from SIMHARNESS_PYTHON_3_X
# (set to "" when that version is not on this machine: those tests skip and say so).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)

PY=${PYTHON:-python3}
PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
VENVS="$ROOT/.venvs"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# "3.X" of an interpreter, or nothing when it does not run.
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

# The base interpreter for version $1 (e.g. 3.12), or nothing when the machine has none.
find_python() {
  local want=$1 candidate
  if [ "$(version_of "$PY")" = "$want" ]; then "$PY" -c 'import sys; print(sys.executable)'; return; fi
  for candidate in $(ls -d "$PYENV_ROOT"/versions/"$want".*/bin/python 2>/dev/null | sort -rV) \
                   "$(command -v "python$want" 2>/dev/null || true)"; do
    if [ -n "$candidate" ] && [ "$(version_of "$candidate")" = "$want" ]; then echo "$candidate"; return; fi
  done
}

# Build (or reuse) the venv of version $1 from base interpreter $2, with simharness[test]
# installed editable. The stamp, written last, names the base interpreter, the checkout and
# pyproject.toml's hash: a venv without a matching stamp (half-built, stale) is rebuilt.
ensure_venv() {
  local version=$1 base=$2 venv="$VENVS/py$1"
  local stamp
  stamp="$(realpath "$base") $("$base" -c 'import sys; print(sys.version.split()[0])') $ROOT $(sha256sum pyproject.toml | cut -d' ' -f1)"
  mkdir -p "$VENVS"
  (
    flock 9  # two runs in one checkout at once: one builds, the other waits and reuses
    if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$stamp" ]; then
      echo "== reusing $venv ($("$venv/bin/python" --version))"
      exit 0
    fi
    echo "== building $venv from $base ($("$base" --version)) with simharness[test]"
    SECONDS=0
    rm -rf "$venv"
    "$base" -m venv "$venv"
    "$venv/bin/python" -m pip install -q -e "$ROOT[test]"
    "$venv/bin/python" -c 'import simharness, freezegun, hypothesis, pytest, xdist'
    echo "$stamp" > "$venv/.stamp.tmp" && mv "$venv/.stamp.tmp" "$venv/.stamp"
    echo "== built $venv in ${SECONDS}s"
  ) 9>"$VENVS/.lock-py$version"
}

MAIN_VERSION=$(version_of "$PY")
if [ -z "$MAIN_VERSION" ]; then echo "== $PY does not run" >&2; exit 1; fi
ALL_VERSIONS=$(printf '%s\n' "$MAIN_VERSION" 3.11 3.12 3.13 | sort -uV)

# The venvs build at the same time: pip spends most of its time downloading and
# unpacking, so three builds side by side take little longer than the slowest one.
builds=()
for version in $ALL_VERSIONS; do
  var="SIMHARNESS_PYTHON_${version/./_}"
  base=$(find_python "$version")
  if [ -z "$base" ]; then
    echo "== Python $version is not on this machine (not under $PYENV_ROOT/versions, no python$version on PATH)"
    export "$var="
    continue
  fi
  mkdir -p "$VENVS"
  ensure_venv "$version" "$base" > "$VENVS/.build-py$version.log" 2>&1 &
  builds+=("$version:$!")
  export "$var=$VENVS/py$version/bin/python"
done
SECONDS=0
build_failed=0
for build in "${builds[@]}"; do
  version=${build%%:*}
  rc=0
  wait "${build#*:}" || rc=$?
  cat "$VENVS/.build-py$version.log"
  if [ "$rc" != 0 ]; then echo "== building the Python $version venv failed (exit $rc)" >&2; build_failed=1; fi
done
[ "$build_failed" = 0 ] || exit 1
echo "== venvs ready in ${SECONDS}s"

# Headless Chromium renders the HTML report in its test (Debian package).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "== installing chromium (Debian package)"
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium install failed"
  fi
fi

# Every stage runs even when an earlier one fails; the command fails if any did.
failed=0
summary=()
stage() {  # stage NAME COMMAND...
  local name=$1 rc=0
  shift
  SECONDS=0
  "$@" || rc=$?
  if [ "$rc" = 0 ]; then summary+=("$name: passed in ${SECONDS}s")
  else summary+=("$name: FAILED (pytest exit $rc) after ${SECONDS}s"); failed=1; fi
}

main="$VENVS/py$MAIN_VERSION/bin/python"
echo "== default suite on $($main --version) ($main)"
stage "default suite on $MAIN_VERSION" "$main" -m pytest -q -n 2

# The controlled loop, its simulated I/O and the ordering guarantees must hold on 3.12
# and 3.13 (asyncio differs between versions: since 3.12 communicate() closes stdin).
for version in 3.12 3.13; do
  [ "$version" = "$MAIN_VERSION" ] && continue
  var="SIMHARNESS_PYTHON_${version/./_}"
  other=${!var}
  if [ -z "$other" ]; then
    summary+=("engine, simulation, guarantees and fidelity suites on $version: not run, Python $version is not on this machine")
    continue
  fi
  echo "== engine, simulation, guarantees and fidelity suites on $($other --version) ($other)"
  # What differs between versions is asyncio itself: the loop, its simulated I/O, the
  # ordering guarantees (500 + 500 schedules each here, 2,000 + 2,000 on the main
  # version), the CPython-derived fidelity regressions, cross-version schedules, and the
  # catalogue's default order against asyncio.run. The rest of the catalogue and the
  # CLI, plugin and stress suites run on the main version only (to keep the suite
  # within its time budget); run the other files with this python by hand to cover them too.
  stage "engine, simulation, guarantees and fidelity suites on $version" \
    env SIMHARNESS_GUARANTEE_SCHEDULES=500 "$other" -m pytest -q -n 2 tests/test_engine_*.py tests/test_sim_*.py \
    tests/test_faithful_guarantees.py tests/test_schedule_versions.py tests/test_unsupported.py \
    tests/test_fidelity_regressions.py tests/test_catalogue_default_is_stock.py
done

echo "== summary"
printf '   %s\n' "${summary[@]}"
exit "$failed"
