"""A found failure on the stock runtime: plain asyncio, real clock, its checkpoint durations.

`confirm` restates a failing schedule as checkpoint durations (`explore/timing.py`), then
runs the variant that many times on a fresh stock asyncio loop (no simharness loop),
each run in its own temporary directory, with those checkpoints sleeping their
durations, and counts the runs whose failure is the recorded one. A failure the
simulation found in the default (faithful) mode that never shows on the stock runtime
under its own timing is a possible defect of simharness.
"""

from __future__ import annotations

import os
import platform
import tempfile
from dataclasses import dataclass

from simharness.errors import ConfigError
from simharness.explore.timing import StockTiming, same_failure, stock_timing
from simharness.real import leaks
from simharness.real.execute import CopiesOutcome, run_copies
from simharness.real.loopwatch import LoopWatch
from simharness.scenario import Scenario

#: Largest `--runs` of confirm (each run may take real seconds).
MAX_RUNS = 10_000
#: A run still pending after this long is cancelled and counted as a timeout.
SOFT_TIMEOUT_S = 60.0
#: Default blocked-loop threshold (a scenario may declare `blocked_loop_s`).
BLOCKED_LOOP_S = 2.0


@dataclass(frozen=True)
class StockRun:
    """One run on the stock runtime: its failure (kind None: passed) and whether it is the bug."""

    kind: str | None
    message: str
    matched: bool


@dataclass(frozen=True)
class Confirmation:
    """The verdict of `confirm`: how often the stock runtime showed the recorded failure."""

    timing: StockTiming
    runs: tuple[StockRun, ...]
    python: str                        # "3.11.7"

    @property
    def matched(self) -> int:
        return sum(1 for r in self.runs if r.matched)

    @property
    def confirmed(self) -> bool:
        return self.matched > 0

    @property
    def other_failures(self) -> tuple[StockRun, ...]:
        return tuple(r for r in self.runs if r.kind is not None and not r.matched)


def run_under_timing(scenario: Scenario, variant: str, delays: dict[str, float], runs: int,
                     watch: LoopWatch) -> list[CopiesOutcome]:
    """`runs` runs of the variant on fresh stock loops, the named checkpoints sleeping `delays`."""
    home = os.getcwd()
    blocked = float(scenario.options.get("blocked_loop_s", BLOCKED_LOOP_S))
    outcomes = []
    for index in range(runs):
        with tempfile.TemporaryDirectory(prefix="simharness-confirm-") as directory:
            os.chdir(directory)
            try:
                outcomes.append(run_copies(scenario, variant, concurrency=1, noise=0.0, seed=index,
                                           loop_kind="asyncio", soft_timeout_s=SOFT_TIMEOUT_S,
                                           blocked_loop_s=blocked, watch=watch, delays=delays))
            finally:
                os.chdir(home)
                leaks.kill_tree(os.getpid())  # children a run started never outlive it
    return outcomes


def _give_up(message: str) -> None:
    """The stock loop stayed blocked after the watchdog's interrupt: nothing can unblock it."""
    leaks.kill_tree(os.getpid())
    os.write(2, f"error: the stock loop stayed blocked ({message}); stopping\n".encode())
    os._exit(2)


def new_watch() -> LoopWatch:
    """The watchdog of stock runs in this process (create one, in the main thread, and reuse it)."""
    return LoopWatch(_give_up)


def confirm(scenario: Scenario, variant: str, schedule: str, *, runs: int = 20,
            step_s: float | None = None, watch: LoopWatch | None = None) -> Confirmation:
    """Run the failure of `schedule` on the stock runtime `runs` times under its durations.

    Raises `ConfigError` when `runs` is out of range, the schedule passes, or its failure
    has no stock equivalent (it needs a choice durations cannot express).
    """
    if not 1 <= runs <= MAX_RUNS:
        raise ConfigError(f"--runs must be from 1 to {MAX_RUNS}, got {runs}")
    if "real" not in tuple(scenario.options.get("backends", ("sim", "real"))):
        raise ConfigError(f"scenario {scenario.name!r} does not run on the real backend")
    try:
        timing = stock_timing(scenario, variant, schedule, **({"step_s": step_s} if step_s else {}))
    except ValueError as error:
        raise ConfigError(f"nothing to confirm: {error}") from None
    if not timing.expressible:
        raise ConfigError(f"this failure has no stock equivalent: {timing.statement()}")
    outcomes = run_under_timing(scenario, variant, timing.as_mapping(), runs, watch or new_watch())
    stock = tuple(StockRun(o.kind, o.message,
                           same_failure(scenario, variant, timing.kind, timing.message, o.kind, o.message))
                  for o in outcomes)
    return Confirmation(timing=timing, runs=stock, python=platform.python_version())
