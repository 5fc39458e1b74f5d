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
