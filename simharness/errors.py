"""The exceptions simharness raises.

Every error a user can cause derives from `SimharnessError`; the command line turns
each into one line on stderr and exit code 2. Findings about the code under test are
never exceptions of this module: they are `Failure` values in a `RunResult`.
"""

from __future__ import annotations


class SimharnessError(Exception):
    """Base of every error that means "simharness was used wrongly or cannot go on"."""


class ScenarioLoadError(SimharnessError):
    """A scenario file is missing, does not import, or declares scenarios badly."""


class TargetError(SimharnessError):
    """A target names no scenario, or a variant that the scenario does not have."""


class ConfigError(SimharnessError):
    """An option value (count, timeout, depth, concurrency...) is out of range."""


class ScheduleDecodeError(SimharnessError):
    """A schedule string is not one simharness wrote, or belongs to another scenario."""


class ScheduleDivergence(SimharnessError):
    """A replayed run no longer matches its schedule.

    `step` is the 1-based index of the decision where the run and the schedule parted.
    """

    def __init__(self, step: int, detail: str) -> None:
        super().__init__(f"replay diverged from the schedule at decision {step}: {detail}")
        self.step = step
        self.detail = detail


class UnsupportedInSimulation(SimharnessError):
    """Scenario code called an asyncio API the controlled loop cannot make deterministic."""

    def __init__(self, api: str, hint: str = "") -> None:
        message = f"{api} is not supported by the simharness controlled loop"
        if hint:
            message += f": {hint}"
        super().__init__(message)
        self.api = api
        self.hint = hint
