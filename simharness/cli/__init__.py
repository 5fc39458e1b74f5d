"""The `simharness` command line: `main()` is the console-script entry point.

Each command module registers its commands on `app` when imported; add one import
line here per module.
"""

from __future__ import annotations

from simharness.cli import core  # noqa: F401  (registers list, explore, replay)
from simharness.cli import stress  # noqa: F401  (registers stress)
from simharness.cli import report  # noqa: F401  (registers report)
from simharness.cli import scaling  # noqa: F401  (registers merge)
from simharness.cli import reproduce  # noqa: F401  (registers reproduce)
from simharness.cli import confirm  # noqa: F401  (registers confirm)
from simharness.cli.app import app
from simharness.cli.common import main

__all__ = ["app", "main"]
