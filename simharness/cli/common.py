"""What every command shares: the entry point, error lines, consoles, JSON, progress.

Errors a user can cause are `SimharnessError`s; `main()` turns each into one line on
stderr and exit code 2, and makes sure no traceback ever reaches the user. Output
for people goes through `out` (stdout) and `err` (stderr); `--json` output goes
through `emit_json`, so stdout holds exactly one document.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from simharness.errors import ConfigError, SimharnessError

try:  # newer typer vendors its own copy of click; older ones use click itself
    from typer import _click as _clicks  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import click as _clicks  # type: ignore[no-redef]
_ClickException = _clicks.exceptions.ClickException
_NoArgsIsHelp = getattr(_clicks.exceptions, "NoArgsIsHelpError", ())
_Abort = getattr(typer, "Abort", RuntimeError)
from simharness.engine.realtime import perf_counter

#: Exit codes of the contract.
EXIT_OK, EXIT_FOUND, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130

# soft_wrap: a `replay:` line must stay one line however narrow the terminal is.
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

ScenariosDirOption = Annotated[str, typer.Option(
    "--scenarios-dir", metavar="DIR", help="Folder searched for NAME targets.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, nothing else.")]
MaxStepsOption = Annotated[int | None, typer.Option(
    "--max-steps", metavar="N", help="Step budget of one run (default 200000); over it the run fails as timeout.")]


#: Terminal control characters (C0 but newline and tab, DEL, C1): an ESC sequence in a
#: scenario name or failure message must not clear the user's screen or retitle it.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: C1 controls pass json.dumps(ensure_ascii=False) unescaped; some terminals obey them.
_JSON_C1 = {code: f"\\u{code:04x}" for code in range(0x7f, 0xa0)}


def clean(text: object) -> str:
    """`text` safe for a terminal: each control character shown as a visible escape (`\\x1b`)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def say(text: str, style: str | None = None) -> None:
    """Print one line for people on stdout (never markup: user text may hold brackets)."""
    out.print(Text(clean(text), style=style or ""))


def note(text: str, style: str = "dim") -> None:
    """Print one line on stderr: notes and warnings that must never mix with --json output."""
    err.print(Text(clean(text), style=style))


def emit_json(document: Any) -> None:
    """Write `document` as the one JSON document of stdout."""
    text = json.dumps(document, indent=2, ensure_ascii=False).translate(_JSON_C1)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def error_line(message: str) -> None:
    """Write an error as exactly one line on stderr."""
    flat = " ".join(clean(message).split())
    sys.stderr.write(f"error: {flat}\n")
    sys.stderr.flush()


#: Set by a command that already said what an interruption kept (stress); otherwise
#: `main()` says it.
interrupt_reported = False


def usage_error_line(error: Any) -> None:
    """A click parse error (bad value, unknown option or command) as one `error:` line."""
    message = error.format_message()
    context = getattr(error, "ctx", None)
    hint = f" (see: {context.command_path} --help)" if context is not None else ""
    error_line(f"{message}{hint}")


def require_at_least(option: str, value: int | None, minimum: int = 1) -> None:
    """Raise `ConfigError` unless `value` (when given) is at least `minimum`."""
    if value is not None and value < minimum:
        raise ConfigError(f"{option} must be at least {minimum}, got {value}")


def display_path(path: str) -> str:
    """`path` relative to the current folder when it lies below it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


class ProgressBar:
    """A rich progress bar on stderr that appears once a job has run for over `delay_s`.

    Callable as a runner progress callback `(done, total)`. Disabled (silent) when
    not `enabled`: with --json, or when stderr is not a terminal.
    """

    def __init__(self, description: str, *, enabled: bool, delay_s: float | None = None) -> None:
        self.description = description
        self.enabled = enabled
        self.delay_s = progress_delay() if delay_s is None else delay_s
        self._started = perf_counter()
        self._progress: Progress | None = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            if perf_counter() - self._started < self.delay_s:
                return  # short jobs stay silent: a flashing bar is noise
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=err, transient=True)
            self._progress.start()
            # The description holds "[variant]": escape it, or rich reads it as markup.
            self._task = self._progress.add_task(escape(clean(self.description)), total=total)
        self._progress.update(self._task, completed=done, total=total)

    def __enter__(self) -> ProgressBar:
        self._started = perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def progress_delay() -> float:
    """Seconds an exploration runs before its bar appears: `$SIMHARNESS_PROGRESS_DELAY`, default 1."""
    try:
        return max(0.0, float(os.environ.get("SIMHARNESS_PROGRESS_DELAY", "1")))
    except ValueError:
        return 1.0


def progress_enabled(json_output: bool) -> bool:
    """Progress bars only for people watching a terminal."""
    return not json_output and sys.stderr.isatty()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 finding, 2 bad input)."""
    from simharness.cli.app import app

    global interrupt_reported
    interrupt_reported = False
    try:
        # Not standalone: click's usage errors come here, to become one `error:` line.
        code = app(args=list(argv) if argv is not None else None, prog_name="simharness",
                   standalone_mode=False)
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
    except _NoArgsIsHelp as error:  # bare `simharness`: the help is the answer
        assert error.ctx is not None
        sys.stderr.write(error.ctx.get_help() + "\n")
        return EXIT_USAGE
    except _ClickException as error:
        usage_error_line(error)
        return EXIT_USAGE
    except _Abort:
        code = EXIT_INTERRUPTED
    except SimharnessError as error:
        error_line(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): nothing left to tell anyone.
        sys.stderr.close()
        return EXIT_OK
    except Exception as error:  # a bug in simharness itself: still one line, unless asked
        if os.environ.get("SIMHARNESS_DEBUG"):
            traceback.print_exc()
        error_line(f"internal error: {type(error).__name__}: {error} "
                   "(set SIMHARNESS_DEBUG=1 for the traceback)")
        return EXIT_USAGE
    if code == EXIT_INTERRUPTED and not interrupt_reported:
        # typer turns Ctrl-C into a silent exit 130: say so, and what stands.
        note("interrupted: output printed above is complete; nothing else was written "
             "(explore keeps failures found so far in the failure store)", "yellow")
    return code if isinstance(code, int) else EXIT_OK
