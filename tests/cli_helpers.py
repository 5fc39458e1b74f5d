"""Run the real `simharness` command in a subprocess, the way users do."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "cli"
RACE = str(FIXTURES / "race.py")


@dataclass(frozen=True)
class Completed:
    """Exit code and both output streams of one command."""

    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | str = ROOT, timeout: float = 120) -> Completed:
    # No failure store: a remembered failure would be replayed first and change run indices.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SIMHARNESS_STORE": "off"}
    env.pop("SIMHARNESS_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "simharness", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return Completed(done.returncode, done.stdout, done.stderr)


def field(output: str, name: str) -> str:
    """The value of the first `name: value` line of `output`."""
    prefix = f"{name}: "
    for line in output.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):]
    raise AssertionError(f"no line starting with {prefix!r} in:\n{output}")
