"""The `simharness` command line: `main()` is the console-script entry point.

Each command module registers its commands on `app` when imported; add one import
line here per module.
"""

from __future__ import annotations

from . import core  # noqa: F401  (registers list, explore, replay)
from . import stress  # noqa: F401  (registers stress)
from . import report  # noqa: F401  (registers report)
from .app import app
from .common import main

__all__ = ["app", "main"]
