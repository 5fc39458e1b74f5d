"""The strategy protocol and the option descriptors strategies choose among.

A strategy only decides. At every real decision (two or more options) the loop
calls `choose(options)` and runs what the returned index names. Options arrive in a
deterministic order (by creation, never by address), and option 0 is always what
native asyncio would do next, so "all zeros" is the stock order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Option:
    """One thing that could run next, described without live objects.

    `key` names the actor (stable across runs and processes: "timer:4",
    "checkpoint:Task-3", "conn-2>", "thread-1", "fifo"); `kind` is its family
    ("fifo", "ready", "timer", "checkpoint", "io", "thread", "process"); `label`
    is for people.
    """

    key: str
    kind: str
    label: str


#: The option "keep running the ready queue and deliver the remaining events later".
FIFO_OPTION = Option("fifo", "fifo", "continue with the ready callbacks")


@runtime_checkable
class Strategy(Protocol):
    """Decides, at each real decision of a run, which option runs next."""

    #: Name used in reports ("fifo", "random", "pct", "dfs", "replay").
    name: str

    def begin_run(self, run_index: int) -> bool:
        """Prepare for run `run_index` (1-based). False means "nothing left to explore"."""
        ...

    def choose(self, options: Sequence[Option]) -> int:
        """Return the index of the option to run next (0 = native asyncio order)."""
        ...

    def end_run(self) -> None:
        """Called after each run (exhaustive strategies advance here)."""
        ...
