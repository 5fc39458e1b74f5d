"""`python -m simharness`: the same command line as the `simharness` script."""

from __future__ import annotations

import sys

from simharness.cli import main

if __name__ == "__main__":
    sys.exit(main())
