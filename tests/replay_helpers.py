"""Replay a scenario's schedule in a fresh interpreter, as a user's new process would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CODE = ("import sys, simharness as sh\n"
         "s = {x.name: x for x in sh.load_file(sys.argv[1])}[sys.argv[2]]\n"
         "print(sh.replay(s, 'default', sys.argv[3]).trace_hash)\n")


def replay_in_fresh_process(source: str, name: str, schedule: str, hash_seed: str) -> str:
    """The trace hash of replaying `schedule` of scenario `name` (declared in `source`)."""
    # The source is often a test module itself, importing this one: tests/ on the path too.
    path = os.pathsep.join((str(ROOT), str(ROOT / "tests")))
    env = {**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", _CODE, source, name, schedule],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def python_for(version: tuple[int, int]) -> tuple[str | None, str]:
    """(interpreter with simharness installed, "") for Python `version`, or (None, why not).

    This interpreter for its own version; otherwise the venv python scripts/run-tests.sh
    names in SIMHARNESS_PYTHON_3_X ("" there: that version is not on this machine), or,
    run outside the script, the venv it builds in .venvs/py3.X. Never a global interpreter:
    its site-packages need not have simharness or its dependencies.
    """
    if version == sys.version_info[:2]:
        return sys.executable, ""
    name = "%d.%d" % version
    var = "SIMHARNESS_PYTHON_%d_%d" % version
    if var in os.environ:
        if os.environ[var]:
            return os.environ[var], ""  # a wrong path fails the test, it does not skip it
        return None, f"Python {name} is not installed on this machine (scripts/run-tests.sh found none)"
    venv = ROOT / ".venvs" / f"py{name}"
    if (venv / ".stamp").is_file() and (venv / "bin" / "python").exists():
        return str(venv / "bin" / "python"), ""
    return None, (f"no Python {name} venv with simharness: `bash scripts/run-tests.sh` builds .venvs/py{name} "
                  f"(or set {var} to a python that has simharness[test])")
