"""What a search for one recorded failure gives back, for a scenario or a test.

Kept apart from the pytest plugin (`integrations/pytest_reproduce.py`) so that the CLI
can show it without importing pytest.
"""

from __future__ import annotations

from dataclasses import dataclass

from simharness.explore.explain import Explanation
from simharness.explore.reproduce.search import Reproduction
from simharness.explore.reproduce.target import FailureTarget


@dataclass
class TestReproduction:
    """The outcome for one test: the search, its replay line and the explanation of a reproduction."""

    __test__ = False  # not a pytest test class, whatever its name

    node_id: str
    target: FailureTarget
    found: Reproduction
    replay: str = ""
    explanation: Explanation | None = None
    error: str = ""                     # why the test could not be searched (a traceback of another test)


def seen_text(target: FailureTarget) -> str:
    """Where the recorded failure comes from: "(stress log: 3 of 10,000 real runs)"."""
    if target.out_of:
        return f"{target.source}: {target.seen:,} of {target.out_of:,} real runs"
    return target.source
