"""The `simharness` Typer application object; command modules register on it.

Kept apart from the commands so that `core`, `stress` and `report` can each do
`from .app import app` without importing one another.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="simharness",
    help="Make asyncio concurrency bugs reproducible: explore interleavings on virtual time, "
         "replay a failing schedule exactly, stress scenarios on the real runtime.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    # A traceback is never the answer to user input: main() reports errors as one line.
    pretty_exceptions_enable=False,
    # Plain click help and usage errors: compact, and readable when piped.
    rich_markup_mode=None,
)
