"""The `simharness` Typer application object; command modules register on it.

Kept apart from the commands so that `core`, `stress` and `report` can each do
`from .app import app` without importing one another.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="simharness",
    help="Make asyncio concurrency bugs reproducible: explore interleavings on virtual time, "
         "replay a failing schedule exactly, stress scenarios on the real runtime.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell.
    add_completion=True,
    # A traceback is never the answer to user input: main() reports errors as one line.
    pretty_exceptions_enable=False,
    # Plain click help and usage errors: compact, and readable when piped.
    rich_markup_mode=None,
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("simharness")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"simharness {_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Make asyncio concurrency bugs reproducible: explore interleavings on virtual time,
    replay a failing schedule exactly, stress scenarios on the real runtime."""
