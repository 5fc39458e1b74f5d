"""Reproduce a failure recorded outside simharness (CI, the stock runtime) as a replayable schedule.

`target` reads the recorded failure (pytest output, a traceback, JUnit XML, a stress run
log), `match` says when a simulated failure is the same one, `search` looks for a
schedule that produces it, and `scenario` does all of it for one scenario variant,
remembering the reproduction in the failure store. The pytest plugin drives `search`
on a test item itself (`integrations/pytest_reproduce.py`).
"""

from __future__ import annotations

from simharness.explore.reproduce.match import Comparison, compare, normalise
from simharness.explore.reproduce.scenario import check_belongs, reproduce_scenario
from simharness.explore.reproduce.search import Candidate, Reproduction, SearchOptions, reproduce
from simharness.explore.reproduce.target import FailureFileError, FailureTarget, read_failures

__all__ = [
    "Candidate", "Comparison", "FailureFileError", "FailureTarget", "Reproduction", "SearchOptions",
    "check_belongs", "compare", "normalise", "read_failures", "reproduce", "reproduce_scenario",
]
