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
