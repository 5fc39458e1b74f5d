"""Shared test set-up: the repository on sys.path (tests run without installing), no failure store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Tests that want the failure store pass one explicitly; nothing else may read or
# write a .simharness/ store in the repository (a remembered failure changes run indices).
os.environ.setdefault("SIMHARNESS_STORE", "off")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The Ctrl-C tests send SIGINT to a child simharness and expect exit 130. A shell runs a
# background job with SIGINT ignored (no job control), and an ignored signal stays ignored
# across exec: started so (`bash .ci/run &`), every child would ignore the test's Ctrl-C.
# With Python's own handler here, children start with the default disposition again.
import signal as _signal  # noqa: E402

if _signal.getsignal(_signal.SIGINT) is _signal.SIG_IGN:
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
